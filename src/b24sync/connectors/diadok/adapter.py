"""``DiadokAdapter`` — the Diadok client behind the engine's ``SystemAdapter`` port (spec ``type: diadok``).

Objects:

* ``document`` — documents of our box. ``read_changes`` follows ``GetNewEvents``: the cursor's ``token`` is the
  last ``IndexKey`` and the engine stores it only after the page's effects are committed (so the feed advances only
  after commit). Each touched document is read with ``GetDocument`` and returned as a record with id
  ``<messageId>/<entityId>`` and values ``message_id, entity_id, type_named_id, recipient_response_status,
  custom_document_id, counteragent_box_id, signed, rejected, final``. ``get(id)`` reads one; ``create(values)``
  sends one (``kind``, ``content`` bytes or base64, ``document_key``, ``to_box_id`` or ``to_inn``/``to_kpp``, and
  the optional ``send_document`` options) and returns its id. Options: ``type_named_id``, ``direction``
  (Outbound/Inbound) filter the feed.
* ``box`` — counterparties' boxes: ``find``/``exists`` with ``{"inn", "kpp"}`` (a guard "the counterparty is
  connected to Diadok"); ``get(box_id)`` is not offered by this adapter.

Config: ``base_url``, ``auth`` (see ``AuthSettings``), ``box_id`` (ours; default: the first of GetMyOrganizations),
``events_path``, ``timeout_seconds``, ``max_wait_seconds``; the runtime adds ``state`` (SharedState).
"""

from __future__ import annotations

import base64
from typing import Any

from b24sync.connectors.diadok.client import DiadokClient, DiadokSettings, DocumentStatus
from b24sync.engine.errors import NotFoundError, PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record

_SEND_OPTIONS = ("file_name", "signature", "sign_with_test_signature", "need_recipient_signature", "function",
                 "version", "metadata", "comment", "is_draft")


def _record(st: DocumentStatus) -> Record:
    return Record(
        id=f"{st.message_id}/{st.entity_id}",
        values={"message_id": st.message_id, "entity_id": st.entity_id, "type_named_id": st.type_named_id,
                "recipient_response_status": st.recipient_response_status,
                "custom_document_id": st.custom_document_id, "counteragent_box_id": st.counteragent_box_id,
                "signed": st.signed, "rejected": st.rejected, "final": st.final},
        version=st.recipient_response_status,
    )


def _split(record_id: str) -> tuple[str, str]:
    mid, sep, eid = record_id.partition("/")
    if not sep or not mid or not eid:
        raise ValidationError(f"Идентификатор документа Диадока должен быть вида messageId/entityId: {record_id!r}")
    return mid, eid


class DiadokAdapter:
    def __init__(self, name: str, client: DiadokClient, *, box_id: str | None = None) -> None:
        self.name = name
        self.client = client
        self._box_id = box_id

    async def box_id(self) -> str:
        if not self._box_id:
            boxes = await self.client.my_boxes()
            if not boxes:
                raise PermanentError("Диадок: у токена нет доступных ящиков (GetMyOrganizations пуст).")
            self._box_id = boxes[0].box_id
        return self._box_id

    @staticmethod
    def _check(obj: ObjectRef, *allowed: str) -> None:
        if obj.object not in allowed:
            raise PermanentError(f"Диадок: объект {obj.object!r} не поддерживается здесь (есть: {', '.join(allowed)}).")

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        self._check(obj, "document")
        box = await self.box_id()
        page = await self.client.get_new_events(
            box, cursor.token, type_named_id=obj.options.get("type_named_id"),
            document_direction=obj.options.get("direction"), limit=limit)
        seen: dict[str, Record] = {}
        for ev in page.events:
            for ref in ev.documents:
                rid = f"{ref.message_id}/{ref.entity_id}"
                if rid not in seen:
                    seen[rid] = _record(await self.client.get_document(box, ref.message_id, ref.entity_id))
        return ChangePage(records=list(seen.values()),
                          cursor=ChangeCursor(token=page.next_index_key, last_id=cursor.last_id), more=page.more)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None  # cursor-based: the engine stores page.cursor after commit

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        self._check(obj, "document")
        mid, eid = _split(record_id)
        try:
            return _record(await self.client.get_document(await self.box_id(), mid, eid))
        except NotFoundError:
            return None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        self._check(obj, "box")
        try:
            box = await self.client.find_box(str(criteria.get("inn") or ""), criteria.get("kpp") or None)
        except NotFoundError:
            return []
        return [Record(id=box.box_id, values={"box_id": box.box_id, "inn": box.inn, "kpp": box.kpp,
                                              "title": box.title})]

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        self._check(obj, "document")
        to_box = values.get("to_box_id")
        if not to_box:
            to_box = (await self.client.find_box(str(values.get("to_inn") or ""), values.get("to_kpp") or None)).box_id
        content = values.get("content")
        if isinstance(content, str):
            content = base64.b64decode(content)
        if not isinstance(content, bytes | bytearray):
            raise ValidationError("Диадок: нужно содержимое документа (content: bytes или base64).")
        sent = await self.client.send_document(
            from_box=await self.box_id(), to_box=to_box, kind=str(values.get("kind") or "nonformalized"),
            content=bytes(content), document_key=str(values.get("document_key") or ""),
            **{k: values[k] for k in _SEND_OPTIONS if values.get(k) is not None})
        return f"{sent.message_id}/{sent.entity_id}"

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> None:
        raise PermanentError("Диадок: отправленный документ нельзя изменить; отправьте новую версию.")

    # ---- files (engine.ports.FileSource; spec ``files[].source: {signed: true}``)
    async def list_files(self, obj: ObjectRef, record_id: str, source: dict[str, Any]) -> list[Any]:
        """The document's print form with the signature stamps, once the counterparty signed it
        (``WithRecipientSignature`` / ``…PartiallySignature``; with ``signed: false`` any state). Its version is the
        recipient's response status, so a later change of the signature state fetches it again."""
        from b24sync.engine.ports import FileRef

        self._check(obj, "document")
        mid, eid = _split(record_id)
        try:
            st = await self.client.get_document(await self.box_id(), mid, eid)
        except NotFoundError:
            return []
        if source.get("signed", True) and not st.signed:
            return []
        name = str(source.get("name") or "{id}.pdf").replace("{id}", eid)
        return [FileRef(id=record_id, name=name, version=f"{record_id}:{st.recipient_response_status}",
                        detail={"status": st.recipient_response_status})]

    async def read_file(self, obj: ObjectRef, record_id: str, ref: Any, source: dict[str, Any]) -> bytes:
        mid, eid = _split(record_id)
        return (await self.client.print_form(await self.box_id(), mid, eid)).content

    async def aclose(self) -> None:
        await self.client.aclose()


def from_config(name: str, config: dict[str, Any]) -> DiadokAdapter:
    cfg = dict(config)
    state = cfg.pop("state", None)
    transport = cfg.pop("transport", None)
    box_id = cfg.pop("box_id", None)
    client = DiadokClient(DiadokSettings.from_config(cfg), state=state, transport=transport, system=name)
    return DiadokAdapter(name, client, box_id=box_id)
