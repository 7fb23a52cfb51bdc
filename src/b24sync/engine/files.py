"""File transfer (``Entity.files``): a file the ERP holds for a record — the invoice's printable PDF, the signed
contract — put on the linked CRM record, in a file field or as a timeline note with the file.

Idempotent Consumer over a file's version: each transfer remembers (store ``kv``, key
``files:ENTITY:CRM_ID:NAME``) the ERP file's ``version``, the SHA-256 of the bytes sent and the CRM file or note id.
A file already sent is not read again; a new version whose bytes are the same is not sent again; a changed file
replaces the one in the field (``on_change: replace``) or gets a new note. Before a send the transfer marks itself
*pending* with the bytes' hash; a retry that finds a pending mark (the answer was lost, the process was killed)
looks at the CRM first — the field's file downloaded and compared, or the notes searched for ours — and adopts
what the lost call did instead of sending a second file.

Runs as its own job kind (``files``) enqueued by every committed sync of a pair whose entity declares ``files``,
so a file problem never undoes the record's sync: an empty file, one that is not a PDF, one over ``max_size`` is
held with a Russian reason for the manager (replayable with ``b24sync replay``), never dropped. The engine knows
no connector: the ERP's adapter implements ``ports.FileSource`` (it reads ``files[].source``), the CRM's
``ports.FileTarget``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection

from b24sync.engine import effects
from b24sync.engine.errors import HoldError, PermanentError
from b24sync.engine.ports import FileContent, FileRef, FileSource, FileTarget
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.spec.models import Entity, FileTransfer, parse_size
from b24sync.store import queue as jobs
from b24sync.store.queue import ClaimedJob

KIND = "files"


def enqueue_after(conn: Connection, rt: Runtime, entity_name: str, crm_id: str, erp_id: str) -> None:
    """Called in the transaction that commits a pair's sync: the pair's files are looked at next."""
    entity = rt.spec.entities.get(entity_name)
    if entity is None or not entity.files:
        return
    jobs.enqueue(conn, kind=KIND, entity=entity_name, lane=f"files:{entity_name}:{crm_id}",
                 payload={"side": "crm", "id": crm_id, "erp_id": erp_id}, dedup_key=f"files:{entity_name}:{crm_id}")


def _key(entity_name: str, crm_id: str, ft: FileTransfer, index: int) -> str:
    return f"files:{entity_name}:{crm_id}:{ft.key(index)}"


_PLACEHOLDER = re.compile(r"\{(erp|crm):([^{}]+)\}|\{name\}")


def render(template: str, *, name: str, erp: dict[str, Any], crm: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "{name}":
            return name
        v = (erp if m.group(1) == "erp" else crm).get(m.group(2))
        return "" if v is None else str(v)

    return _PLACEHOLDER.sub(sub, template).strip()


_BAD_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def file_name(ft: FileTransfer, ref: FileRef, erp: dict[str, Any], crm: dict[str, Any]) -> str:
    """The CRM-side name: the template filled in, path and control characters removed, ``.pdf`` kept on a PDF."""
    name = _BAD_NAME.sub("_", render(ft.file_name, name=ref.name or "file", erp=erp, crm=crm)).strip(" .") or "file"
    if ft.accept == "pdf" and not name.lower().endswith(".pdf"):
        name += ".pdf"
    return name[:200]


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f}".rstrip("0").rstrip(".")


def check(ft: FileTransfer, ref: FileRef, content: bytes, *, where: str) -> None:
    """Bad files are held with the manager's reason, never sent and never dropped."""
    what = f"Файл «{ref.name}» ({where})"
    if not content:
        raise HoldError(f"{what} пустой (0 байт) — в карточку не передан. Приложите в учётной системе файл "
                        "заново, затем повторите.", detail={"file": ref.name, "problem": "empty"})
    limit = parse_size(ft.max_size)
    if len(content) > limit:
        raise HoldError(f"{what} слишком большой: {_mb(len(content))} МБ при пределе {_mb(limit)} МБ — в карточку "
                        "не передан. Уменьшите файл (сожмите скан) или увеличьте max_size в спецификации, затем "
                        "повторите.", detail={"file": ref.name, "problem": "too_large", "size": len(content)})
    if ft.accept == "pdf" and not content.lstrip(b"\r\n\t \x00")[:5].startswith(b"%PDF-"):
        raise HoldError(f"{what} не является PDF (ожидался PDF) — в карточку не передан. Приложите в учётной "
                        "системе PDF-файл, затем повторите.", detail={"file": ref.name, "problem": "not_pdf"})


def tied_first(refs: list[FileRef]) -> list[FileRef]:
    """The first file and those the connector cannot rank apart from it (``FileRef.rank``: 1C attached files changed
    in one second, all signed or none), in the connector's (stable) order."""
    top = refs[0]
    if top.rank is None:
        return [top]
    return [r for r in refs if r.rank == top.rank]


async def untie(ft: FileTransfer, tied: list[FileRef], read: Callable[[FileRef], Awaitable[bytes]], *,
                where: str) -> tuple[FileRef, bytes]:
    """Files the connector ranks alike: the one that passes the checks is meant when all that pass have the same
    bytes (a scan attached twice, or a draft beside it that is empty, not a PDF, too big); different contents
    are not ours to choose — held, naming the files, so a person keeps the right one."""
    good: list[tuple[FileRef, bytes]] = []
    first_problem: HoldError | None = None
    for r in tied:
        content = await read(r)
        try:
            check(ft, r, content, where=where)
        except HoldError as e:
            first_problem = first_problem or e
            continue
        good.append((r, content))
    if not good:
        assert first_problem is not None
        raise first_problem
    if len({hashlib.sha256(c).digest() for _, c in good}) == 1:
        return good[0]
    names = ", ".join(f"«{r.name}»" for r, _ in good)
    modified = tied[0].detail.get("modified")
    when = f" (изменены в одну секунду: {str(modified).replace('T', ' ')})" if modified else ""
    n = len(good)
    files_word = "разных файла" if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else "разных файлов"
    raise HoldError(f"В учётной системе {n} {files_word} подходят одинаково ({where}): {names}{when}, с одной и "
                    "той же отметкой о подписи — какой из них передать в карточку, должен решить человек. Оставьте "
                    "нужный файл (лишние пометьте на удаление или снимите с них отметку о подписи), затем повторите.", detail={"problem": "tied", "files": [r.id for r, _ in good],
                                                "names": [r.name for r, _ in good]})


def _flag(value: Any, values: list[Any]) -> bool:
    return value in values or str(value) in {str(v) for v in values}


async def transfer_files(rt: Runtime, job: ClaimedJob) -> Outcome:
    entity = rt.entity(job.entity)
    crm_id, erp_id = str(job.payload["id"]), str(job.payload["erp_id"])
    erp = rt.adapter(entity, "erp")
    crm = rt.adapter(entity, "crm")
    erp_name, crm_name = rt.spec.system_for(entity, "erp"), rt.spec.system_for(entity, "crm")
    if not isinstance(erp, FileSource):
        raise PermanentError(f"{job.entity}: system `{erp_name}` cannot hand over files (its connector has no "
                             "list_files/read_file) — remove `files` from the entity or use a connector that has")
    if not isinstance(crm, FileTarget):
        raise PermanentError(f"{job.entity}: system `{crm_name}` cannot receive files — remove `files` from the entity")
    erp_obj, crm_obj = rt.objref(entity, "erp"), rt.objref(entity, "crm")
    erp_rec = await erp.get(erp_obj, erp_id)
    if erp_rec is None or erp_rec.deleted:
        return Outcome("skipped", detail={"why": f"ERP record {erp_id} no longer exists"})
    crm_rec = await crm.get(crm_obj, crm_id)
    if crm_rec is None or crm_rec.deleted:
        return Outcome("skipped", detail={"why": f"CRM record {crm_id} no longer exists"})
    done: list[dict[str, Any]] = []
    for i, ft in enumerate(entity.files):
        r = await _one(rt, job.entity, entity, ft, i, erp, crm, erp_obj, crm_obj, erp_rec.values, crm_rec.values,
                       crm_id, erp_id)
        done.append({"file": ft.key(i), **r})
    sent = [d for d in done if d["action"] in ("sent", "replaced", "adopted")]
    return Outcome("files" if sent else "unchanged", target="crm", target_id=crm_id, detail={"files": done})


async def _one(rt: Runtime, name: str, entity: Entity, ft: FileTransfer, i: int, erp: Any, crm: Any, erp_obj: Any,
               crm_obj: Any, erp_values: dict[str, Any], crm_values: dict[str, Any], crm_id: str,
               erp_id: str) -> dict[str, Any]:
    if ft.when is not None and not _flag(erp_values.get(ft.when.field), ft.when.values):
        return {"action": "waiting", "why": f"{ft.when.field} = {erp_values.get(ft.when.field)!r}"}
    refs: list[FileRef] = await erp.list_files(erp_obj, erp_id, ft.source)
    if not refs:
        return {"action": "waiting", "why": "no file in the ERP yet"}
    tied = tied_first(refs)
    ref = tied[0]  # the connector lists the file to send first (the latest, the signed one)
    tie = sorted(r.version for r in tied) if len(tied) > 1 else None  # the tied files, as last decided
    key = _key(name, crm_id, ft, i)
    state = (await asyncio.to_thread(effects.state, rt, key))[2] or {}
    if (state.get("tie") == tie) if tie else (state.get("version") == ref.version):
        return {"action": "unchanged", "version": state.get("version")}
    if state.get("sha256") and ft.on_change == "keep":
        return {"action": "kept"}
    where = f"{entity.title or name}, запись {erp_id} в {rt.spec.system_for(entity, 'erp')}"
    if tie:
        ref, content = await untie(ft, tied, lambda r: erp.read_file(erp_obj, erp_id, r, ft.source), where=where)
    else:
        content = await erp.read_file(erp_obj, erp_id, ref, ft.source)
        check(ft, ref, content, where=where)
    sha = hashlib.sha256(content).hexdigest()
    if sha == state.get("sha256"):
        # a new version with the same bytes (the ERP touched its metadata): nothing to send
        await asyncio.to_thread(effects.put, rt, key, {**state, "version": ref.version, "tie": tie})
        return {"action": "unchanged"}
    fc = FileContent(file_name(ft, ref, erp_values, crm_values), content)
    before = state.get("target_id")
    text = render(ft.to.timeline, name=fc.name, erp=erp_values, crm=crm_values) if ft.to.timeline else None

    async def send() -> str:
        if ft.to.field is not None:
            await crm.update(crm_obj, crm_id, {ft.to.field: fc})
            cur = await crm.get(crm_obj, crm_id)
            fid = crm.file_id(cur.values.get(ft.to.field)) if cur else None
            if fid is None:
                raise PermanentError(f"{name}: the CRM accepted the file for {ft.to.field} but the field is empty "
                                     "on read-back — is it a file field?")
            return fid
        return str(await crm.add_note(crm_obj, crm_id, text, [fc]))

    async def find() -> str | None:
        """After a lost answer: what the lost call did, if it did (never the file this one replaces)."""
        if ft.to.field is not None:
            cur = await crm.get(crm_obj, crm_id)
            value = cur.values.get(ft.to.field) if cur else None
            fid = crm.file_id(value)
            if fid is not None and fid != before:
                data = await crm.download(value)
                if data is not None and hashlib.sha256(data).hexdigest() == sha:
                    return fid
            return None
        found = await crm.find_note(crm_obj, crm_id, text or "")
        return found if found is not None and str(found) != str(before) else None

    # One effect per (bytes, file replaced): declared pending before the call, looked up after a lost answer
    # (engine/effects.py) — a changed file is a new effect, the same file sent again never is.
    ekey = f"{key}:{sha[:40]}:{before or '-'}"
    sent = await effects.once(rt, ekey, send, find, data={"name": fc.name, "size": len(content)})
    target_id = (await asyncio.to_thread(effects.state, rt, ekey))[1]
    await asyncio.to_thread(effects.put, rt, key, {"version": ref.version, "sha256": sha, "target_id": target_id,
                                                   "name": fc.name, "size": len(content), "erp_file": ref.id,
                                                   "tie": tie})
    return {"action": ("replaced" if before else "sent") if sent else "adopted", "name": fc.name,
            "size": len(content), "target_id": target_id}
