"""A rehearsal stand: one local sandbox for each system a spec names, and the configuration that points the spec's
systems at them instead of the real ones.

Every sandbox is started from its own package (``b24sync.sandbox.*``); this module never imports a connector. The
configuration keys it overrides are the connectors' documented keys (docs/connector-*.md); any other key of the
system (``preset``, ``rate``, ``burst``, options) is kept, so the rehearsal runs the spec as written.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from b24sync.spec.models import Spec, SystemSpec

# Keys that point a system somewhere or carry its credentials: a rehearsal never keeps them from the spec (they may
# name production) — a system type whose keys are not known here cannot be rehearsed.
_ENDPOINT_KEYS = {"url", "base_url", "webhook_url", "username", "password", "token", "key", "api_key", "database",
                  "client_id", "client_secret", "refresh_token", "exchange_user", "exchange_password", "drop_folder",
                  "folder", "oauth", "login", "user"}


class StandError(Exception):
    """A spec names a system type the rehearsal has no sandbox for."""


@dataclass
class Stand:
    """The running sandboxes of one rehearsal; ``overrides[system]`` is the config that reaches them."""

    workdir: Path
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    handles: dict[str, Any] = field(default_factory=dict)  # system name -> sandbox object (for seeding, counts)
    urls: dict[str, str] = field(default_factory=dict)  # system name -> what a person opens / points a client at
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:  # noqa: BLE001 - stopping the rest matters more than one failure
                pass
        self._stops.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def apply(self, spec: Spec) -> Spec:
        """A copy of ``spec`` whose systems point at this stand."""
        systems: dict[str, SystemSpec] = {}
        for name, system in spec.systems.items():
            data = {k: v for k, v in system.model_dump().items() if k not in _ENDPOINT_KEYS}
            data.update(self.overrides.get(name, {}))
            systems[name] = SystemSpec.model_validate(data)
        return spec.model_copy(update={"systems": systems})


def _bitrix24(stand: Stand, name: str, system: SystemSpec) -> None:
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox

    cfg = system.config()
    # the portal keeps the plan the spec declares (default plan: 2 requests/s, bucket 50; bitrix24-rest.md §3.2)
    sandbox = Bitrix24Sandbox(rate=float(cfg.get("rate") or 2.0), burst=int(cfg.get("burst") or 50))
    sandbox.start()
    stand._stops.append(sandbox.stop)
    stand.handles[name] = sandbox
    stand.overrides[name] = {"webhook_url": sandbox.webhook_url}
    stand.urls[name] = sandbox.base_url


def _onec_odata(stand: Stand, name: str, system: SystemSpec) -> None:
    from b24sync.sandbox.onec.sandbox import OneCSandbox

    # the configuration the spec's preset names: БП 3.0 and УНФ 3.0 bases are other object sets (profiles.py)
    profile = {"bp30": "bp30", "unf": "unf30", "unf30": "unf30"}.get(str(system.config().get("preset") or ""), "ut11")
    sandbox = OneCSandbox(user="rehearsal", password="rehearsal", seed="demo", profile=profile)
    sandbox.start()
    stand._stops.append(sandbox.stop)
    stand.handles[name] = sandbox
    url = sandbox.hs_url if system.type == "1c-http" else sandbox.odata_url
    stand.overrides[name] = {"url": url, "username": "rehearsal", "password": "rehearsal"}
    stand.urls[name] = url


def _commerceml(stand: Stand, name: str, system: SystemSpec) -> None:
    # b24sync is the site here; 1C is the client. The 1C sandbox holds the catalogue it will send.
    from b24sync.sandbox.onec.sandbox import OneCSandbox

    sandbox = OneCSandbox(user="rehearsal", password="rehearsal", seed="demo")
    stand.handles[name] = sandbox
    drop = stand.workdir / f"{name}-drop"
    drop.mkdir()
    from b24sync.sandbox.onec.commerceml import generate_catalog

    for fname, body in generate_catalog(sandbox.store).items():  # what 1C's "exchange with site" would upload
        (drop / fname).write_bytes(body)
    stand.overrides[name] = {"exchange_user": "rehearsal-1c", "exchange_password": "rehearsal-1c",
                             "drop_folder": str(drop), "work_dir": str(stand.workdir / f"{name}-exchange")}
    stand.urls[name] = str(drop)


def _served(stand: Stand, name: str, app: Any) -> str:
    from b24sync.sandbox.served import ServedApp

    served = ServedApp(app)
    stand._stops.append(served.stop)
    stand.handles[name] = app
    return served.url


def _dadata(stand: Stand, name: str, system: SystemSpec) -> None:
    from b24sync.sandbox.dadata.app import create_app

    url = _served(stand, name, create_app(token="rehearsal-token"))
    stand.overrides[name] = {"token": "rehearsal-token", "base_url": f"{url}/suggestions/api/4_1/rs/"}
    stand.urls[name] = url


def _focus(stand: Stand, name: str, system: SystemSpec) -> None:
    from b24sync.sandbox.focus.app import create_app

    url = _served(stand, name, create_app(key="rehearsal-key"))
    stand.overrides[name] = {"key": "rehearsal-key", "base_url": f"{url}/api3/"}
    stand.urls[name] = url


def _kontur_buh(stand: Stand, name: str, system: SystemSpec) -> None:
    from b24sync.sandbox.kontur.app import KonturSandboxConfig, create_app

    app = create_app(KonturSandboxConfig(api_keys={"rehearsal-kontur-key"}, seed=7))
    url = _served(stand, name, app)
    _seed_kontur(url, "rehearsal-kontur-key")
    stand.overrides[name] = {"base_url": f"{url}/api/v1", "token": "rehearsal-kontur-key"}
    stand.urls[name] = url


def _seed_kontur(url: str, key: str, *, invoices: int = 6) -> None:
    """Sample books: counterparties with invoices, some paid in part or in full (through the sandbox's own API)."""
    import httpx

    from b24sync.sandbox.bitrix24.model import checksum_inn

    with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
        for i in range(invoices):
            inn = checksum_inn(f"77{i:07d}")
            cp = c.post("/counterparties", json={"inn": inn, "kpp": "770101001", "name": f"ООО «Образец {i + 1}»"})
            cp.raise_for_status()
            inv = c.post("/invoices", json={"external_id": f"rehearsal:{i}", "counterparty_id": cp.json()["id"],
                                            "lines": [{"name": "Услуга", "quantity": "2", "unit": "796",
                                                       "price": f"{1000 + 150 * i}.00", "vat_rate": "22"}]})
            inv.raise_for_status()
            if i % 3:
                amount = None if i % 3 == 1 else "500.00"
                c.post(f"{url}/_sandbox/bank-statement",
                       json={"invoice_id": inv.json()["id"], **({"amount": amount} if amount else {})}).raise_for_status()


def _bank_statement(stand: Stand, name: str, system: SystemSpec) -> None:
    from b24sync.sandbox.bank import sample_statement

    folder = stand.workdir / f"{name}-statements"
    folder.mkdir()
    (folder / "statement-1.txt").write_bytes(sample_statement(8, seed=1))
    (folder / "statement-2.txt").write_bytes(sample_statement(8, seed=1))  # the same days again (overlap)
    stand.overrides[name] = {"folder": str(folder)}
    stand.handles[name] = folder
    stand.urls[name] = str(folder)


def _odoo(stand: Stand, name: str, system: SystemSpec) -> None:
    from b24sync.sandbox.odoo.app import OdooSandboxConfig, create_app
    from b24sync.sandbox.odoo.db import Database
    from b24sync.sandbox.odoo.seed import seed

    db = Database(name="rehearsal")
    seed(db)
    url = _served(stand, name, create_app(OdooSandboxConfig(database="rehearsal",
                                                            api_keys={"rehearsal-odoo-key": "admin"}), db))
    stand.overrides[name] = {"url": url, "database": "rehearsal", "username": "admin",
                             "api_key": "rehearsal-odoo-key"}
    stand.urls[name] = url


STARTERS: dict[str, Callable[[Stand, str, SystemSpec], None]] = {
    "bitrix24": _bitrix24,
    "1c-odata": _onec_odata,
    "odata": _onec_odata,
    "1c-http": _onec_odata,
    "commerceml": _commerceml,
    "dadata": _dadata,
    "kontur-focus": _focus,
    "kontur-buh": _kontur_buh,
    "bank-statement": _bank_statement,
    "odoo": _odoo,
}


def rehearsable_types() -> list[str]:
    return sorted(STARTERS)


def start_stand(spec: Spec) -> Stand:
    """Start a sandbox for every system of ``spec``; raise ``StandError`` before starting anything if one type has
    no sandbox."""
    missing = sorted({f"{n} (type {s.type})" for n, s in spec.systems.items() if s.type not in STARTERS})
    if missing:
        raise StandError(f"no sandbox for {', '.join(missing)}; rehearsable types: {', '.join(rehearsable_types())}")
    stand = Stand(workdir=Path(tempfile.mkdtemp(prefix="b24sync-rehearsal-")))
    try:
        for name, system in spec.systems.items():
            STARTERS[system.type](stand, name, system)
    except BaseException:
        stand.stop()
        raise
    return stand
