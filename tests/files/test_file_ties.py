"""1C keeps an attached file's modification time in whole seconds (document-flows.md B.7
``ДатаМодификацииУниверсальная``): files attached in one second tie on it. The pick is deterministic and right —
the signed one (``ПодписанЭП``) first; among files equal on both, the one valid content; different contents are
held with a Russian reason naming the tied files, and go once a person keeps one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from b24sync.store import queue as jobs
from tests.files.test_contracts import CONTRACTS, FILES, _item, _signed, contract_entities, pdf
from tests.orders.harness import cycle, scenario
from tests.orders.test_orders import held_reasons

SECOND = "2030-01-01T10:00:00"


def _sent(b24: Any, value: dict[str, Any] | None) -> bytes | None:
    return b24.portal.files[value["id"]]["content"] if value else None


def _tie_reasons(rt: Any) -> list[str]:
    return [r for r in held_reasons(rt) if "подходят одинаково" in r]


def test_among_files_of_one_second_the_signed_one_is_sent_whatever_the_order(tmp_path: Path) -> None:
    for signed_first in (True, False):
        async def steps(rt, b24, onec, client, signed_first=signed_first):  # type: ignore[no-untyped-def]
            s, item, c = await _signed(rt, b24, onec, client)
            scans = [("Договор скан.pdf", pdf("signed"), True), ("Договор проект.pdf", pdf("draft"), False)]
            for name, content, signed in scans if signed_first else scans[::-1]:
                onec.attach_file(CONTRACTS, c["Ref_Key"], name, content, signed=signed, modified=SECOND)
            onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
            await cycle(rt)
            assert _sent(b24, (await _item(client, item)).get("ufCrm1SignedContract")) == pdf("signed")
            assert not _tie_reasons(rt)

        scenario(steps, tmp_path / str(signed_first), contract_entities(source={"attached": FILES}))


def test_two_signed_files_of_one_second_are_held_naming_both_then_the_one_kept_goes(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, item, c = await _signed(rt, b24, onec, client)
        a = onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан первый.pdf", pdf("one"), signed=True, modified=SECOND)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан второй.pdf", pdf("two"), signed=True, modified=SECOND)
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
        for _ in range(2):  # held, and held once (one open entry per record and reason)
            await cycle(rt)
        assert not (await _item(client, item)).get("ufCrm1SignedContract")
        (reason,) = _tie_reasons(rt)
        assert "2 разных файла" in reason and "«Скан первый.pdf»" in reason and "«Скан второй.pdf»" in reason
        assert "2030-01-01 10:00:00" in reason
        onec.edit(FILES, a["Ref_Key"], DeletionMark=True)  # the person keeps the second scan
        assert jobs.replay(rt.db) >= 1
        await cycle(rt)
        assert _sent(b24, (await _item(client, item))["ufCrm1SignedContract"]) == pdf("two")
        assert not _tie_reasons(rt)

    scenario(steps, tmp_path, contract_entities())


def test_three_signed_files_of_one_second_are_held_naming_all_three(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, item, c = await _signed(rt, b24, onec, client)
        for n in ("А", "Б", "В"):
            onec.attach_file(CONTRACTS, c["Ref_Key"], f"Скан {n}.pdf", pdf(n), signed=True, modified=SECOND)
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
        await cycle(rt)
        assert not (await _item(client, item)).get("ufCrm1SignedContract")
        (reason,) = _tie_reasons(rt)
        assert "3 разных файла" in reason and all(f"«Скан {n}.pdf»" in reason for n in ("А", "Б", "В"))

    scenario(steps, tmp_path, contract_entities())


def test_three_tied_files_with_one_valid_content_send_it_once(tmp_path: Path) -> None:
    """The same scan attached twice and a broken one in the same second: one content is meant — sent, once."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, item, c = await _signed(rt, b24, onec, client)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан.pdf", pdf("scan"), signed=True, modified=SECOND)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан (копия).pdf", pdf("scan"), signed=True, modified=SECOND)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан.docx", b"PK\x03\x04 not a pdf", signed=True, modified=SECOND)
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
        await cycle(rt)
        assert _sent(b24, (await _item(client, item))["ufCrm1SignedContract"]) == pdf("scan")
        assert not held_reasons(rt)
        n = len(b24.portal.files)
        from b24sync.engine.resync import enqueue_resync

        await enqueue_resync(rt, "contract_signed")  # the file job runs again: the same tie, nothing sent
        await cycle(rt)
        assert len(b24.portal.files) == n and not held_reasons(rt)

    scenario(steps, tmp_path, contract_entities())


def test_files_a_second_apart_do_not_tie_the_latest_goes(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, item, c = await _signed(rt, b24, onec, client)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан новый.pdf", pdf("new"), signed=True,
                         modified="2030-01-01T10:00:01")
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан старый.pdf", pdf("old"), signed=True, modified=SECOND)
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
        await cycle(rt)
        assert _sent(b24, (await _item(client, item))["ufCrm1SignedContract"]) == pdf("new")
        assert not held_reasons(rt)

    scenario(steps, tmp_path, contract_entities())
