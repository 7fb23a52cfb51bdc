"""``Bitrix24Sandbox``: the Python API (construct, run on an ephemeral port in a thread, inspect, stop)."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections import Counter
from typing import Any

import uvicorn

from .app import RestApp
from .clock import SystemClock
from .limits import LeakyBucket, OperatingLedger
from .portal import Portal


class Bitrix24Sandbox:
    def __init__(self, *, rate: float | None = 2.0, burst: int = 50, operating_limit: float | None = 480.0,
                 clock=None, data: str | None = None, fail_rate: float = 0.0, latency_ms: float = 0.0,
                 webhook_user: int = 1, webhook_code: str | None = None, access_ttl: int = 3600,
                 client_id: str | None = None, client_secret: str | None = None, seed: int = 42,
                 timeout_seconds: float = 65.0) -> None:
        self.clock = clock or SystemClock()
        self.portal = Portal(clock=self.clock, data=data, webhook_user=webhook_user, webhook_code=webhook_code,
                             access_ttl=access_ttl, client_id=client_id, client_secret=client_secret)
        self.bucket = LeakyBucket(self.clock, rate, burst)
        self.ledger = OperatingLedger(self.clock, operating_limit)
        self.fail_rate, self.latency_ms, self.timeout_seconds = fail_rate, latency_ms, timeout_seconds
        self.rng = random.Random(seed)
        self.stats: Counter = Counter()
        self._faults: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.rest = RestApp(self)
        self.app = self.rest.app
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.scheme = "http"
        self.port: int | None = None
        self.cert_path: str | None = None

    # ---- running --------------------------------------------------------------------------------------------------
    def start(self, port: int = 0, host: str = "127.0.0.1", tls: bool = False, cert_dir: str | None = None) -> str:
        """Serve on a real socket in a background thread; returns the webhook URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        kw: dict[str, Any] = {}
        if tls:
            from .tls import make_cert
            self.cert_path, key_path = make_cert(cert_dir)
            kw = {"ssl_certfile": self.cert_path, "ssl_keyfile": key_path}
            self.scheme = "https"
        self.set_address(host, self.port)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", **kw)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[sock])),
                                        name="b24-sandbox", daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started and time.time() < deadline:
            time.sleep(0.01)
        return self.webhook_url

    def set_address(self, host: str, port: int, scheme: str | None = None) -> None:
        self.scheme = scheme or self.scheme
        self.portal.domain = f"{host}:{port}"
        self.portal.base_url = f"{self.scheme}://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.portal.events.stop()
        self._server = self._thread = None

    def close(self) -> None:
        self.stop()
        self.portal.store.close()

    def __enter__(self) -> "Bitrix24Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- addresses ------------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.portal.base_url

    @property
    def webhook_url(self) -> str:
        """``{base}/rest/{user_id}/{code}/`` — append ``{method}`` or ``{method}.json``."""
        return f"{self.base_url}/rest/{self.portal.webhook_user}/{self.portal.webhook_code}/"

    @property
    def oauth_token_url(self) -> str:
        return f"{self.base_url}/oauth/token/"

    # ---- fault injection ------------------------------------------------------------------------------------------
    def force(self, method: str, kind: str = "503", times: int = 1) -> None:
        """Next ``times`` calls of ``method`` answer ``kind``: "503" (HTML gateway page), "500", "timeout" or "lost"
        (applied, then the answer is lost as a 504 gateway page — alone or inside a batch);
        ``batch:<method>`` makes that command fail inside a batch (a per-command INTERNAL_SERVER_ERROR)."""
        with self._lock:
            self._faults.setdefault(method.lower(), []).extend([kind] * times)

    def take_lost(self, method: str) -> bool:
        """Whether the next fault queued for ``method`` is "lost" (taken if so)."""
        with self._lock:
            q = self._faults.get(method)
            if q and q[0] == "lost":
                q.pop(0)
                return True
            return False

    def take_fault(self, method: str) -> str | None:
        with self._lock:
            q = self._faults.get(method)
            return q.pop(0) if q else None

    # ---- inspection ------------------------------------------------------------------------------------------------
    def count(self, table: str) -> int:
        """Records in a table: company, contact, deal, lead, requisite, bankdetail, address, product, item_31, …"""
        return len(self.portal.t(table))

    def get(self, table: str, rid: int) -> dict | None:
        return self.portal.t(table).get(rid)

    @property
    def method_calls(self):  # Counter: method name -> calls served (each batch command counted)
        return self.portal.method_calls

    def write_calls(self) -> int:
        """Calls of writing methods (*.add, *.update, *.set, *.delete) served so far."""
        return sum(n for m, n in self.portal.method_calls.items()
                   if m.rsplit(".", 1)[-1] in ("add", "update", "set", "delete"))

    @property
    def requests_served(self) -> int:
        return self.stats["requests"]

    @property
    def query_limit_exceeded(self) -> int:
        return self.stats["query_limit_exceeded"]

    @property
    def operation_time_limit_hits(self) -> int:
        return self.stats["operation_time_limit"]

    @property
    def operating_seconds(self) -> float:
        return self.ledger.total_charged

    def operating_used(self, method: str, principal: str | None = None) -> float:
        return self.ledger.used(principal or f"webhook:{self.portal.webhook_user}", method.lower())

    @property
    def deliveries(self) -> list[dict]:
        return self.portal.events.deliveries

    def drain_events(self, timeout: float = 5.0) -> bool:
        return self.portal.events.drain(timeout)

    # ---- portal-side actions ----------------------------------------------------------------------------------------
    def seed(self, companies: int = 0, contacts: int = 0, deals: int = 0, products: int = 0,
             company_ids: list[int] | None = None) -> None:
        """Generated records; contacts and deals belong to the companies seeded with them, or to ``company_ids``
        (companies already on the portal) when none are seeded."""
        from .seed import seed
        seed(self.portal, companies, contacts, deals, products, company_ids=company_ids)

    def issue_auth_code(self, user_id: int = 1) -> str:
        """What the portal appends to the app's redirect_uri after the user authorises (``code``, 30 s)."""
        return self.portal.issue_code(user_id)

    def oauth_tokens(self, user_id: int = 1) -> dict:
        """Shortcut: a fresh token pair as /oauth/token/ would return it."""
        return self.portal._new_tokens(user_id)

    def install_app(self, handler_url: str) -> None:
        self.portal.install_app(handler_url)

    def add_outgoing_webhook(self, event: str, url: str) -> dict:
        return self.portal.add_outgoing_webhook(event, url)

    def fire_robot(self, code: str, document: str, **kw: Any) -> tuple[int, str]:
        """A workflow reaches robot ``code`` on ``document`` (``COMPANY_12``): POST to its handler as the portal
        does; ``robot_answer(token)`` then shows what the application answered (bizproc.event.send)."""
        from .bizproc import fire_robot

        return fire_robot(self.portal, code, document, **kw)

    def robot_answers(self) -> list[dict]:
        """Every robot call so far with its answer (None while the robot still waits)."""
        return [{**c, "answer": (self.portal.robot_waits.get(c["event_token"]) or {}).get("answer")}
                for c in self.portal.robot_calls]
