"""Worker identity and heartbeat (table ``workers``): who is running, and freeing what a dead one held.

Every ``b24sync run`` process registers one row (owner ``host:pid:nonce`` — the ``lease_owner`` of its jobs and the
owner of its named leases) and beats it every few seconds. A worker is dead when

- it ran on this host and its pid is gone — or is our own pid (a restarted container reuses pid 1), or
- it ran on another host and its heartbeat is older than the stale bound (a machine that vanished never beats
  again).

A worker on this host whose pid is alive is never taken for dead by a late heartbeat: on a loaded machine (2 cores,
load 20) a live process can miss its beats for longer than the bound, and freeing the job it is still running lets
a second worker create the same record again (bench/scale_workers.py saw 6 duplicates in 1,000 that way). Its jobs
still come back if it hangs for good: their leases stop being extended and expire.

``free_dead`` — run by a worker when it starts and on every heartbeat — returns a dead worker's running jobs to the
queue (the attempt counts, as with an expired lease), deletes its named leases (poll leases are taken over at once)
and its row. So jobs in flight when a worker was killed resume within seconds, not after the full job lease.

Hosts are told apart by hostname: processes that share a hostname must share a PID namespace (Docker gives every
container its own hostname by default).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, and_, delete, insert, select, update

from b24sync.store.db import utcnow
from b24sync.store.models import Job, Lease, WorkerRow
from b24sync.store.queue import _aware, _now


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class Identity:
    owner: str
    host: str
    pid: int

    @classmethod
    def here(cls, nonce: str) -> Identity:
        host, pid = socket.gethostname(), os.getpid()
        return cls(f"{host}:{pid}:{nonce}", host, pid)


@dataclass
class Freed:
    workers: list[str] = field(default_factory=list)
    jobs: int = 0
    leases: int = 0


def register(engine: Engine, me: Identity) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(WorkerRow).where(WorkerRow.owner == me.owner))
        conn.execute(insert(WorkerRow).values(owner=me.owner, host=me.host, pid=me.pid, started_at=now,
                                              heartbeat_at=now))


def beat(engine: Engine, me: Identity, *, lease_seconds: float) -> bool:
    """Renew our heartbeat and every named lease we hold, in one transaction. False when our row is gone (a peer
    took us for dead): the caller registers again."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(update(Lease).where(Lease.owner == me.owner).values(until=now + timedelta(seconds=lease_seconds)))
        return conn.execute(update(WorkerRow).where(WorkerRow.owner == me.owner)
                            .values(heartbeat_at=now)).rowcount == 1


def unregister(engine: Engine, me: Identity) -> None:
    """A clean exit: our row and named leases go, and any job still marked ours returns to the queue."""
    _free(engine, [me.owner], count_attempt=False)


def free_dead(engine: Engine, me: Identity, *, stale_seconds: float,
              alive: Callable[[int], bool] = pid_alive) -> Freed:
    """Free the jobs and leases of every dead worker (see the module doc for "dead")."""
    stale_before = utcnow() - timedelta(seconds=stale_seconds)
    with engine.connect() as conn:
        rows = conn.execute(select(WorkerRow.owner, WorkerRow.host, WorkerRow.pid, WorkerRow.heartbeat_at)
                            .where(WorkerRow.owner != me.owner)).all()
    dead = [r.owner for r in rows
            if (r.host == me.host and (r.pid == me.pid or not alive(r.pid)))
            or (r.host != me.host and _aware(r.heartbeat_at) < stale_before)]
    return _free(engine, dead) if dead else Freed()


def _free(engine: Engine, owners: list[str], *, count_attempt: bool = True) -> Freed:
    out = Freed(workers=list(owners))
    with engine.begin() as conn:
        # The job's attempt died with its worker: it counts, as with an expired lease (queue.claim).
        out.jobs = conn.execute(
            update(Job).where(and_(Job.lease_owner.in_(owners), Job.state == "running"))
            .values(state="pending", run_at=_now(), lease_owner=None, lease_until=None,
                    attempts=Job.attempts + (1 if count_attempt else 0))
        ).rowcount
        out.leases = conn.execute(delete(Lease).where(Lease.owner.in_(owners))).rowcount
        conn.execute(delete(WorkerRow).where(WorkerRow.owner.in_(owners)))
    return out


def live(engine: Engine) -> list[WorkerRow]:
    """The registered workers (for ``b24sync status``)."""
    with engine.connect() as conn:
        return list(conn.execute(select(WorkerRow).order_by(WorkerRow.started_at)).all())
