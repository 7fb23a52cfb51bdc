"""Entities whose jobs are not a record-to-record sync (``Entity.apart``): the module that handles them.

* ``aggregate`` — a sum over related documents (engine/aggregate.py: payments, shipments);
* ``credit_control`` — deals of a client over its credit limit (engine/credit.py).
"""

from __future__ import annotations

from b24sync.engine.runtime import Outcome, Runtime
from b24sync.store.queue import ClaimedJob


async def handle(rt: Runtime, job: ClaimedJob) -> Outcome:
    entity = rt.entity(job.entity)
    if entity.aggregate is not None:
        from b24sync.engine import aggregate

        return await aggregate.handle(rt, job)
    from b24sync.engine import credit

    return await credit.handle(rt, job)
