"""The shipped preset specs (examples/1c-bp-invoices.yaml, examples/1c-unf-orders.yaml, examples/kontur-invoices.yaml)
run as written against the sandboxes of their ERP kind: the spec file is loaded with its ${VARS} pointing at the
sandboxes, the portal is prepared from it, the names are checked from $metadata first (as `b24sync run` does)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.compose import build
from b24sync.engine.names import check_names
from b24sync.engine.service import RunOptions, run
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]


def preset_scenario(example: str, fn, tmp_path: Path, *, erp: str = "onec", profile: str = "ut11",  # type: ignore[no-untyped-def]
                    before=None, order_state: str = "composite") -> Any:
    b24 = Bitrix24Sandbox(rate=50, burst=400)
    url = b24.start()
    env = {"B24_WEBHOOK_URL": url, "B24_EVENT_TOKEN": ""}
    stops = [b24.stop]
    erp_handle: Any
    if erp == "onec":
        from b24sync.sandbox.onec.sandbox import OneCSandbox

        erp_handle = OneCSandbox(profile=profile, order_state=order_state)
        env |= {"ONEC_ODATA_URL": erp_handle.start(), "ONEC_USER": "odata", "ONEC_PASSWORD": "secret"}
        stops.append(erp_handle.stop)
    else:
        from b24sync.sandbox.kontur.app import KonturSandboxConfig, create_app
        from b24sync.sandbox.served import ServedApp

        erp_handle = create_app(KonturSandboxConfig(api_keys={"test-kontur-key"}, seed=3))
        served = ServedApp(erp_handle)
        env |= {"KONTUR_BUH_URL": f"{served.url}/api/v1", "KONTUR_BUH_TOKEN": "test-kontur-key"}
        stops.append(served.stop)
    if before is not None:
        before(erp_handle)  # the ERP as it is before b24sync starts
    try:
        spec = load_spec(ROOT / "examples" / example, env)
        spec = spec.model_copy(update={"defaults": spec.defaults.model_copy(update={
            "retry": spec.defaults.retry.model_copy(update={"base_seconds": 0.2, "max_seconds": 1})})})
        rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> Any:
            try:
                from b24sync.connectors.bitrix24.portal import prepare_portal
                from b24sync.connectors.bitrix24.requirements import requirements_from_spec

                client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
                report = await prepare_portal(client, requirements_from_spec(rt.spec))
                assert not [f for f in report.findings if f.status == "error"], report.findings
                names = await check_names(rt)
                assert not names.broken, names.problems  # every name of the preset resolves on this base
                return await fn(rt, b24, erp_handle, client)
            finally:
                await rt.aclose()

        return asyncio.run(main())
    finally:
        for stop in reversed(stops):
            stop()


async def cycle(rt) -> Any:  # type: ignore[no-untyped-def]
    return await run(rt, RunOptions(once=True))


async def company_with_requisite(client, title: str, inn: str, kpp: str = "") -> str:  # type: ignore[no-untyped-def]
    co = str(await client.call("crm.company.add", {"fields": {"TITLE": title}}))
    rq: dict[str, Any] = {"ENTITY_TYPE_ID": 4, "ENTITY_ID": int(co), "PRESET_ID": 1, "NAME": title, "RQ_INN": inn}
    if kpp:
        rq["RQ_KPP"] = kpp
    await client.call("crm.requisite.add", {"fields": rq})
    return co


async def smart_invoice(client, company: str | None, rows: list[dict[str, Any]], *,  # type: ignore[no-untyped-def]
                        title: str = "Счёт на поставку", deal: str | None = None) -> str:
    f: dict[str, Any] = {"title": title}
    if company:
        f["companyId"] = int(company)
    if deal:
        f["parentId2"] = int(deal)
    inv = str((await client.call("crm.item.add", {"entityTypeId": 31, "fields": f}))["item"]["id"])
    if rows:
        await client.call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": int(inv), "productRows": rows})
    return inv


async def move_invoice(rt, client, inv: str, stage: str) -> None:  # type: ignore[no-untyped-def]
    from b24sync.server.intake import accept_event

    await client.call("crm.item.update", {"entityTypeId": 31, "id": int(inv), "fields": {"stageId": stage}})
    accept_event(rt, side="crm", event="ONCRMDYNAMICITEMUPDATE", record_id=inv, source="b24",
                 delivery_id=f"inv{inv}:{stage}")


def crm_products(b24, erp_refs: list[str]) -> list[int]:  # type: ignore[no-untyped-def]
    """The CRM products the catalogue entity made for these ERP items (linked through XML_ID)."""
    by_xml = {r.get("XML_ID"): r["ID"] for r in b24.portal.t("product").rows.values()}
    return [int(by_xml[x]) for x in erp_refs]


def held(rt) -> list[str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from b24sync.store.models import DeadLetter

    with rt.db.connect() as conn:
        return list(conn.execute(select(DeadLetter.reason).where(DeadLetter.resolved_at.is_(None))).scalars())
