"""Files of a 1C record for the engine's file transfer (``engine.ports.FileSource``; spec ``files[].source``).

``source`` keys:

* ``attached: Catalog_<Owner>ПрисоединенныеФайлы`` — BSP attached files of the record (document-flows.md B.7):
  items whose ``owner`` (default ``ВладелецФайла_Key``) is the record, not marked for deletion, filtered by
  ``where`` (e.g. ``{ПодписанЭП: true}``), latest ``ДатаМодификацииУниверсальная`` first, the signed one
  (``ПодписанЭП``) first among files changed in one second; files equal on both tie (``FileRef.rank``, decided by the
  engine). The bytes (B.9), in order:
  the item's own ``ФайлХранилище_Base64Data`` (older storage); BSP 3.1 ``InformationRegister_ХранилищеФайлов``
  (``Файл`` + ``Файл_Type``) → ``Catalog_ХранилищеДвоичныхДанных.ДвоичныеДанные_Base64Data``; the pre-3.1
  ``InformationRegister_УдалитьДвоичныеДанныеФайлов``; for files kept in volumes on the server disk
  (``ТипХраненияФайла = ВТомахНаДиске``, not reachable through OData) the HTTP service ``files_service``
  (``{hs}b24/files/{file}``) when the spec names one, else the record is held with the reason.
  ⚠ Whether ``_Base64Data`` is the raw file or a serialized value storage in every release is open (B.9 [L]);
  the code reads it as the raw file (as public clients do), and a file that then is not a PDF is held, not sent.
* ``http: "b24/print/Document_СчетНаОплатуКлиенту/{id}"`` — a print form an HTTP service of the base renders
  (erp-side.md §2), path relative to the publication's ``/hs/``; its version is the record's ``DataVersion``, so
  the form is fetched again only after the document changed. ``name`` names the file (default ``{id}.pdf``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from b24sync.engine.errors import HoldError, NotFoundError, PermanentError
from b24sync.engine.ports import FileRef, ObjectRef


def _name(row: dict[str, Any]) -> str:
    stem, ext = str(row.get("Description") or "file"), str(row.get("Расширение") or "").lstrip(".")
    return f"{stem}.{ext}" if ext and not stem.lower().endswith("." + ext.lower()) else stem


def _rank(row: Any) -> tuple[str, bool]:
    """An attached file's preference: its modification time (ISO, whole seconds), then signed over unsigned."""
    signed = row.values.get("ПодписанЭП")
    return (str(row.values.get("ДатаМодификацииУниверсальная") or ""), signed is True or str(signed).lower() == "true")


def _b64(value: Any) -> bytes | None:
    if value in (None, ""):
        return None
    try:
        return base64.b64decode(str(value), validate=False)
    except (binascii.Error, ValueError):
        return None


async def list_files(adapter: Any, obj: ObjectRef, record_id: str, source: dict[str, Any]) -> list[FileRef]:
    if "attached" in source:
        files_set = str(source["attached"])
        criteria = {str(source.get("owner") or "ВладелецФайла_Key"): record_id, **(source.get("where") or {})}
        rows = [r for r in await adapter.find(ObjectRef(files_set), criteria)
                if not r.deleted and not r.values.get("DeletionMark")]
        # Best first: the latest modification, then — among files changed in one second (1C keeps whole seconds,
        # B.7 ДатаМодификацииУниверсальная) — the one marked signed (ПодписанЭП, B.7). Files still equal on both
        # tie (FileRef.rank): the engine decides, never the order 1C happened to answer in; the id orders them
        # only so that every run lists them alike.
        rows.sort(key=lambda r: r.id)
        rows.sort(key=_rank, reverse=True)
        return [FileRef(id=r.id, name=_name(r.values), version=f"{r.id}:{r.version or ''}",
                        size=int(r.values["Размер"]) if str(r.values.get("Размер") or "").replace(".0", "").isdigit()
                        else None,
                        detail={"set": files_set, "storage": r.values.get("ТипХраненияФайла"),
                                "path": r.values.get("ПутьКФайлу"), "inline": r.values.get("ФайлХранилище_Base64Data"),
                                "modified": r.values.get("ДатаМодификацииУниверсальная")},
                        rank=_rank(r))
                for r in rows]
    if "http" in source:
        rec = await adapter.get(obj, record_id)
        if rec is None:
            return []
        path = str(source["http"]).replace("{id}", record_id)
        name = str(source.get("name") or "{id}.pdf").replace("{id}", record_id)
        return [FileRef(id=path, name=name, version=f"{record_id}:{rec.version or ''}", detail={"http": path})]
    raise PermanentError(f"files source {source!r}: a 1C source names `attached` (an attached-files catalog) or "
                         "`http` (an HTTP service path)")


async def read_file(adapter: Any, obj: ObjectRef, record_id: str, ref: FileRef, source: dict[str, Any]) -> bytes:
    if "http" in ref.detail:
        return await _hs(adapter, ref.detail["http"])
    inline = _b64(ref.detail.get("inline"))
    if inline is not None:
        return inline
    files_set = ref.detail["set"]
    if ref.detail.get("storage") != "ВТомахНаДиске":
        data = await _register(adapter, ref.id, files_set)
        if data is not None:
            return data
    service = source.get("files_service")
    if service:
        return await _hs(adapter, str(service).replace("{file}", ref.id).replace("{id}", record_id))
    where = ("хранится в томах на диске сервера 1С" if ref.detail.get("storage") == "ВТомахНаДиске"
             else "не найден в хранилище двоичных данных")
    raise HoldError(f"Файл «{ref.name}» {where} — стандартный OData-интерфейс его не отдаёт. Опубликуйте "
                    "HTTP-сервис, который отдаёт файл (РаботаСФайлами.ДвоичныеДанныеФайла), и укажите его в "
                    "спецификации (files_service), либо перенесите файл в информационную базу; затем повторите.",
                    detail={"file": ref.id, "storage": ref.detail.get("storage")})


async def _register(adapter: Any, file_ref: str, files_set: str) -> bytes | None:
    c = adapter.client
    key = {"Файл": file_ref, "Файл_Type": f"StandardODATA.{files_set}"}
    try:
        rec = await c.get("InformationRegister_ХранилищеФайлов", key)
        blob = rec.get("ХранилищеДвоичныхДанных_Key")
        if blob:
            row = await c.get("Catalog_ХранилищеДвоичныхДанных", blob, select=["ДвоичныеДанные_Base64Data"])
            return _b64(row.get("ДвоичныеДанные_Base64Data")) or b""  # found: an empty storage is an empty file
    except NotFoundError:
        pass
    try:  # BSP before 3.1
        rec = await c.get("InformationRegister_УдалитьДвоичныеДанныеФайлов", key,
                          select=["ДвоичныеДанныеФайла_Base64Data"])
        return _b64(rec.get("ДвоичныеДанныеФайла_Base64Data"))
    except NotFoundError:
        return None


async def _hs(adapter: Any, path: str) -> bytes:
    url = adapter.hs_url.rstrip("/") + "/" + path.lstrip("/")
    try:
        resp = await adapter.client.request("GET", url, context=f"GET hs/{path}", idempotent=True)
    except NotFoundError:
        resp = None
    if resp is None or resp.status_code == 404:
        raise HoldError(f"HTTP-сервис 1С не нашёл файл ({path}) — проверьте, что документ и его печатная форма "
                        "есть в базе, затем повторите.", detail={"path": path})
    if resp.status_code >= 400:
        raise PermanentError(f"1C HTTP service {path}: HTTP {resp.status_code}")
    return resp.content
