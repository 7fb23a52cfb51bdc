"""Async client for the Kontur.Diadok HTTP API — the subset a CRM ↔ EDI flow needs.

Wire format: the real API speaks **protobuf by default** and **JSON when asked** with ``Accept: application/json`` /
``Content-Type: application/json`` ([DIADOC] ``http/Authenticate.rst``, examples on developer.kontur.ru send JSON).
This client always uses JSON; structure and field names follow the vendor's proto definitions (``MessageToPost``,
``BoxEventList``, ``BoxEvent``, ``Message``, ``MessagePatch``, ``Entity``, ``Document``, ``OrganizationList``).
Facts and citations: /work/shared/research/erp-side.md §8; developer.kontur.ru/doc/diadoc-api/http/*.

What it does:

* ``find_box(inn, kpp)`` — the counterparty's box via ``GET /GetOrganizationsByInnKpp``.
* ``send_document(...)`` — ``POST /V3/PostMessage?operationId=…``. The operationId is derived deterministically from
  our document key (``operation_id_for``), so a retried send returns the first send's result instead of a second
  message ([DIADOC] ``http/PostMessage.rst``: "all later calls with the same operation id return the result of the
  first successful call"). ``204 + Retry-After`` (still processing) is waited out with the same operationId.
* ``get_new_events(box, after_index_key)`` — ``GET /V8/GetNewEvents`` (V7 also current) from the stored
  ``IndexKey``; at most 100 events per call ([DIADOC] ``http/GetNewEvents.rst``). ``EventFeed`` keeps the cursor in
  ``SharedState`` and moves it only when the caller commits.
* ``get_document(...)`` — ``GET /V3/GetDocument`` → ``DocumentStatus`` incl. ``RecipientResponseStatus``.
* ``print_form(...)`` — ``GET /GeneratePrintForm``: ``204 + Retry-After`` while queued, then the PDF.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from b24sync.connectors.metered import metered_client
from b24sync.connectors.diadok.auth import AuthSettings, DiadokAuth
from b24sync.connectors.diadok.errors import error_for, retry_after_seconds, transport_error
from b24sync.engine.errors import (
    AuthError,
    HoldError,
    NotFoundError,
    PermanentError,
    RetryableError,
    ValidationError,
)
from b24sync.store.kv import MemoryState, SharedState

DEFAULT_BASE_URL = "https://diadoc-api.kontur.ru"  # test stand: https://diadoc-api-staging.kontur.ru
MAX_DOCUMENTS_PER_MESSAGE = 40  # fact sheet §8 (PostMessage: ≤ 40 documents per message)
MAX_EVENTS_PER_CALL = 100  # [DIADOC] GetNewEvents: at most 100 events per call

# Our names for the documents a CRM deal produces → Diadok ``TypeNamedId`` (fact sheet §8; proto DocumentType).
DOCUMENT_KINDS: dict[str, str] = {
    "contract": "Contract",  # договор
    "supplementary_agreement": "SupplementaryAgreement",
    "proforma_invoice": "ProformaInvoice",  # счёт на оплату
    "invoice": "Invoice",  # счёт-фактура (formalized XML)
    "upd": "UniversalTransferDocument",  # УПД, Function СЧФ / ДОП / СЧФДОП
    "act": "XmlAcceptanceCertificate",  # акт (formalized XML)
    "nonformalized": "Nonformalized",
}

# [DIADOC] proto/RecipientResponseStatus.rst
RECIPIENT_RESPONSE_STATUSES = (
    "RecipientResponseStatusUnknown",
    "RecipientResponseStatusNotAcceptable",
    "WaitingForRecipientSignature",
    "WithRecipientSignature",
    "RecipientSignatureRequestRejected",
    "InvalidRecipientSignature",
    "WithRecipientPartiallySignature",
)
SIGNED_STATUSES = frozenset({"WithRecipientSignature", "WithRecipientPartiallySignature"})
FINAL_STATUSES = SIGNED_STATUSES | {"RecipientSignatureRequestRejected", "RecipientResponseStatusNotAcceptable"}

_OPERATION_NS = uuid.UUID("5d0c6d2e-8a4b-4c61-9d1e-b24a5c0d1a0c")  # b24sync's own namespace for operation ids


def operation_id_for(document_key: str) -> str:
    """A stable PostMessage ``operationId`` for one of our documents (same key → same id → no duplicate send).

    Put a version in the key (``deal:42:contract:v2``) when a changed document must really be sent again.
    """
    if not document_key:
        raise ValueError("document_key must not be empty")
    return str(uuid.uuid5(_OPERATION_NS, document_key))


@dataclass(frozen=True)
class Box:
    box_id: str  # GUID form (BoxIdGuid) when the API gives it
    title: str
    inn: str
    kpp: str
    org_id: str | None = None


@dataclass(frozen=True)
class SentDocument:
    message_id: str
    entity_id: str
    operation_id: str
    type_named_id: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class DocumentStatus:
    box_id: str
    message_id: str
    entity_id: str
    type_named_id: str
    recipient_response_status: str
    docflow_status: str | None  # human-readable only; the vendor says not to build logic on it (fact sheet §8)
    custom_document_id: str | None
    counteragent_box_id: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def signed(self) -> bool:
        return self.recipient_response_status in SIGNED_STATUSES

    @property
    def rejected(self) -> bool:
        return self.recipient_response_status == "RecipientSignatureRequestRejected"

    @property
    def final(self) -> bool:
        return self.recipient_response_status in FINAL_STATUSES


@dataclass(frozen=True)
class DocumentRef:
    """A document touched by an event: where to read its status."""

    message_id: str
    entity_id: str
    type_named_id: str | None
    recipient_response_status: str | None
    custom_document_id: str | None


@dataclass(frozen=True)
class BoxEvent:
    event_id: str
    index_key: str | None
    message_id: str | None
    is_patch: bool
    documents: tuple[DocumentRef, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class EventPage:
    events: list[BoxEvent]
    after_index_key: str | None  # the cursor this page was read from
    next_index_key: str | None  # the cursor to store once the page's effects are committed
    total_count: int | None

    @property
    def more(self) -> bool:
        return self.total_count is not None and self.total_count > len(self.events)


@dataclass(frozen=True)
class PrintForm:
    content: bytes
    file_name: str | None
    content_type: str | None


@dataclass
class DiadokSettings:
    base_url: str = DEFAULT_BASE_URL
    auth: AuthSettings = field(default_factory=AuthSettings)
    events_path: str = "/V8/GetNewEvents"  # /V7/GetNewEvents is also current; V4–V6 are scheduled for removal
    timeout_seconds: float = 30.0
    max_wait_seconds: float = 120.0  # for 204 + Retry-After loops (PostMessage, GeneratePrintForm)
    default_retry_after: float = 5.0  # when a 204 carries no Retry-After

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DiadokSettings:
        auth_cfg = dict(config.get("auth") or {})
        auth = AuthSettings(**{k: v for k, v in auth_cfg.items() if k in AuthSettings.__dataclass_fields__})
        known = {k: v for k, v in config.items() if k in cls.__dataclass_fields__ and k != "auth"}
        return cls(auth=auth, **known)


def _document_from_json(box_id: str, doc: dict[str, Any]) -> DocumentStatus:
    return DocumentStatus(
        box_id=box_id,
        message_id=str(doc.get("MessageId", "")),
        entity_id=str(doc.get("EntityId", "")),
        type_named_id=str(doc.get("TypeNamedId", "")),
        recipient_response_status=str(doc.get("RecipientResponseStatus") or "RecipientResponseStatusUnknown"),
        docflow_status=(doc.get("DocflowStatus") or {}).get("PrimaryStatus", {}).get("StatusText")
        if isinstance(doc.get("DocflowStatus"), dict) else doc.get("DocflowStatus"),
        custom_document_id=doc.get("CustomDocumentId"),
        counteragent_box_id=doc.get("CounteragentBoxId"),
        raw=doc,
    )


def _event_from_json(ev: dict[str, Any]) -> BoxEvent:
    body = ev.get("Message") or ev.get("Patch") or {}
    docs: list[DocumentRef] = []
    seen: set[str] = set()
    for ent in body.get("Entities") or []:
        info = ent.get("DocumentInfo")
        if info:
            ref = DocumentRef(
                message_id=str(info.get("MessageId") or body.get("MessageId") or ""),
                entity_id=str(info.get("EntityId") or ent.get("EntityId") or ""),
                type_named_id=info.get("TypeNamedId"),
                recipient_response_status=info.get("RecipientResponseStatus"),
                custom_document_id=info.get("CustomDocumentId"),
            )
        elif ent.get("ParentEntityId"):
            # a signature / rejection / receipt added by a patch points at its document (glossary/entity:
            # ParentEntityId links a signature to the document it signs); its status is read with GetDocument
            ref = DocumentRef(message_id=str(body.get("MessageId") or ""), entity_id=str(ent["ParentEntityId"]),
                              type_named_id=None, recipient_response_status=None, custom_document_id=None)
        else:
            continue
        if ref.entity_id not in seen:
            seen.add(ref.entity_id)
            docs.append(ref)
    return BoxEvent(
        event_id=str(ev.get("EventId", "")),
        index_key=ev.get("IndexKey"),
        message_id=body.get("MessageId"),
        is_patch="Patch" in ev and ev.get("Patch") is not None,
        documents=tuple(docs),
        raw=ev,
    )


class DiadokClient:
    """One Diadok account (token); box ids are passed per call. Use as ``async with DiadokClient(...) as dd``."""

    def __init__(
        self,
        settings: DiadokSettings | None = None,
        *,
        state: SharedState | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        token_provider: Callable[[], Awaitable[str]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        system: str = "diadok",
    ) -> None:
        self.settings = settings or DiadokSettings()
        self.state = state or MemoryState()
        self.auth = DiadokAuth(self.settings.auth, state=self.state, token_provider=token_provider)
        self._sleep = sleep
        self.http = metered_client(
            system,
            transport=transport,
            base_url=self.settings.base_url.rstrip("/"),
            timeout=self.settings.timeout_seconds,
            headers={"Accept": "application/json"},
        )

    async def __aenter__(self) -> DiadokClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- transport -----------------------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, operation: str, params: dict[str, Any] | None = None,
                       json: Any = None, accept: str = "application/json") -> httpx.Response:
        """One call; refreshes a refreshable token once after 401. Returns 2xx responses (incl. 204)."""
        for attempt in (1, 2):
            headers = {"Authorization": await self.auth.header(self.http), "Accept": accept}
            try:
                resp = await self.http.request(method, path, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                raise transport_error(exc, operation=operation) from exc
            if resp.status_code == 401 and attempt == 1 and self.auth.can_refresh:
                self.auth.invalidate()
                continue
            if resp.status_code >= 400:
                raise error_for(resp, operation=operation)
            return resp
        raise AuthError("Диадок: токен отклонён и после обновления (401).")  # pragma: no cover

    async def _until_ready(self, call: Callable[[], Awaitable[httpx.Response]], *, operation: str,
                           max_wait: float | None) -> httpx.Response:
        """Repeat ``call`` while it answers ``204 No Content`` + ``Retry-After`` (seconds), within ``max_wait``."""
        budget = self.settings.max_wait_seconds if max_wait is None else max_wait
        waited = 0.0  # the sum of the server's Retry-After waits (deterministic; request time not counted)
        while True:
            resp = await call()
            if resp.status_code != 204:
                return resp
            wait = retry_after_seconds(resp)
            wait = self.settings.default_retry_after if wait is None else wait
            waited += wait
            if waited > budget:
                # not an error of the record: the server is still working; the engine retries later
                raise RetryableError(f"Диадок ещё выполняет {operation}; повторим позже.", retry_after=wait,
                                     detail={"operation": operation})
            await self._sleep(wait)

    # -- organisations / boxes -----------------------------------------------------------------------------------

    @staticmethod
    def _boxes_of(org: dict[str, Any]) -> list[Box]:
        out = []
        for b in org.get("Boxes") or []:
            out.append(Box(
                box_id=str(b.get("BoxIdGuid") or b.get("BoxId")),
                title=str(b.get("Title") or org.get("ShortName") or org.get("FullName") or ""),
                inn=str(org.get("Inn") or ""),
                kpp=str(org.get("Kpp") or ""),
                org_id=org.get("OrgIdGuid") or org.get("OrgId"),
            ))
        return out

    async def my_boxes(self) -> list[Box]:
        resp = await self._request("GET", "/GetMyOrganizations", operation="GetMyOrganizations")
        return [b for org in resp.json().get("Organizations") or [] for b in self._boxes_of(org)]

    async def find_box(self, inn: str, kpp: str | None = None) -> Box:
        """The counterparty's box by INN (+KPP) — ``GET /GetOrganizationsByInnKpp``.

        Several organisations can share INN/KPP (a roaming counterparty served by another EDI operator has a
        "representation" in Diadok — developer.kontur.ru/doc/diadoc-api/http/GetOrganizationsByInnKpp): we then
        hold the record for a person rather than guess. No organisation → ``NotFoundError`` (not in Diadok).
        """
        if not inn or not inn.isdigit() or len(inn) not in (10, 12):
            raise ValidationError(f"ИНН {inn!r} должен состоять из 10 или 12 цифр.")
        params = {"inn": inn}
        if kpp:
            params["kpp"] = kpp
        resp = await self._request("GET", "/GetOrganizationsByInnKpp", params=params,
                                   operation="GetOrganizationsByInnKpp")
        boxes = [b for org in resp.json().get("Organizations") or [] for b in self._boxes_of(org)]
        if not boxes:
            raise NotFoundError(f"Контрагент ИНН {inn}{' КПП ' + kpp if kpp else ''} не подключён к Диадоку.",
                                detail={"inn": inn, "kpp": kpp})
        if len(boxes) > 1:
            raise HoldError(
                f"В Диадоке несколько ящиков для ИНН {inn}{' КПП ' + kpp if kpp else ''}; выберите ящик вручную.",
                detail={"inn": inn, "kpp": kpp, "boxes": [b.box_id for b in boxes]},
            )
        return boxes[0]

    # -- sending ---------------------------------------------------------------------------------------------------

    def build_message(
        self,
        *,
        from_box: str,
        to_box: str,
        kind: str,
        content: bytes,
        document_key: str,
        file_name: str | None = None,
        signature: bytes | None = None,
        sign_with_test_signature: bool = False,
        need_recipient_signature: bool | None = None,
        function: str | None = None,
        version: str | None = None,
        metadata: dict[str, str] | None = None,
        comment: str | None = None,
        is_draft: bool = False,
    ) -> dict[str, Any]:
        """``MessageToPost`` with one ``DocumentAttachment`` (proto/MessageToPost, proto/DocumentAttachment).

        Diadok does not sign for you: pass the sender's detached CMS ``signature`` (made by your signing tool), or
        ``sign_with_test_signature`` on test boxes, or send ``is_draft`` for a person to sign in the web UI.
        """
        type_named_id = DOCUMENT_KINDS.get(kind, kind)
        if not content:
            raise ValidationError("Пустой документ нельзя отправить в Диадок.")
        signed: dict[str, Any] = {"Content": base64.b64encode(content).decode("ascii")}
        if signature:
            signed["Signature"] = base64.b64encode(signature).decode("ascii")
        if sign_with_test_signature:
            signed["SignWithTestSignature"] = True
        if need_recipient_signature is None:
            need_recipient_signature = type_named_id in {"Contract", "SupplementaryAgreement", "Nonformalized"}
        att: dict[str, Any] = {
            "SignedContent": signed,
            "TypeNamedId": type_named_id,
            "NeedRecipientSignature": need_recipient_signature,
            "CustomDocumentId": document_key,
        }
        if function:
            att["Function"] = function
        if version:
            att["Version"] = version
        meta = dict(metadata or {})
        if file_name:
            meta.setdefault("FileName", file_name)
        if meta:
            att["Metadata"] = [{"Key": k, "Value": str(v)} for k, v in meta.items()]
        if comment:
            att["Comment"] = comment[:5000]  # proto/DocumentAttachment: comment ≤ 5000 characters
        msg: dict[str, Any] = {"FromBoxId": from_box, "ToBoxId": to_box, "DocumentAttachments": [att]}
        if is_draft:
            msg["IsDraft"] = True
        return msg

    async def post_message(self, message: dict[str, Any], *, operation_id: str,
                           max_wait: float | None = None) -> dict[str, Any]:
        n_docs = len(message.get("DocumentAttachments") or [])
        if n_docs > MAX_DOCUMENTS_PER_MESSAGE:
            raise ValidationError(f"В одном сообщении Диадока не больше {MAX_DOCUMENTS_PER_MESSAGE} документов.")

        async def call() -> httpx.Response:
            return await self._request("POST", "/V3/PostMessage", params={"operationId": operation_id},
                                       json=message, operation="PostMessage")

        resp = await self._until_ready(call, operation="PostMessage", max_wait=max_wait)
        return resp.json()

    async def send_document(self, *, from_box: str, to_box: str, kind: str, content: bytes, document_key: str,
                            max_wait: float | None = None, **options: Any) -> SentDocument:
        """Send one contract / invoice / UPD; safe to retry (same ``document_key`` → same message)."""
        message = self.build_message(from_box=from_box, to_box=to_box, kind=kind, content=content,
                                     document_key=document_key, **options)
        op = operation_id_for(document_key)
        result = await self.post_message(message, operation_id=op, max_wait=max_wait)
        type_named_id = message["DocumentAttachments"][0]["TypeNamedId"]
        entity = next((e for e in result.get("Entities") or []
                       if (e.get("DocumentInfo") or {}).get("CustomDocumentId") == document_key), None)
        if entity is None:
            entity = next((e for e in result.get("Entities") or [] if e.get("DocumentInfo")), None)
        if entity is None:
            raise PermanentError("Диадок принял сообщение, но не вернул документ в ответе.",
                                 detail={"message_id": result.get("MessageId")})
        return SentDocument(message_id=str(result.get("MessageId")), entity_id=str(entity.get("EntityId")),
                            operation_id=op, type_named_id=type_named_id, raw=result)

    # -- events ----------------------------------------------------------------------------------------------------

    async def get_new_events(self, box_id: str, after_index_key: str | None = None, *,
                             type_named_id: str | list[str] | None = None,
                             document_direction: str | list[str] | None = None,
                             limit: int = MAX_EVENTS_PER_CALL) -> EventPage:
        params: dict[str, Any] = {"boxId": box_id, "limit": max(1, min(limit, MAX_EVENTS_PER_CALL))}
        if after_index_key:
            params["afterIndexKey"] = after_index_key  # httpx URL-encodes it (the key may hold '+', '/', '=')
        if type_named_id:
            params["typeNamedId"] = ",".join([type_named_id] if isinstance(type_named_id, str) else type_named_id)
        if document_direction:
            params["documentDirection"] = ",".join(
                [document_direction] if isinstance(document_direction, str) else document_direction)
        resp = await self._request("GET", self.settings.events_path, params=params, operation="GetNewEvents")
        data = resp.json()
        events = [_event_from_json(e) for e in data.get("Events") or []]
        next_key = after_index_key
        for e in events:
            if e.index_key:
                next_key = e.index_key
        total = data.get("TotalCount")
        return EventPage(events=events, after_index_key=after_index_key, next_index_key=next_key,
                         total_count=int(total) if total is not None else None)

    # -- documents -------------------------------------------------------------------------------------------------

    async def get_document(self, box_id: str, message_id: str, entity_id: str) -> DocumentStatus:
        resp = await self._request(
            "GET", "/V3/GetDocument",
            params={"boxId": box_id, "messageId": message_id, "entityId": entity_id,
                    "injectEntityContent": "false"},
            operation="GetDocument",
        )
        return _document_from_json(box_id, resp.json())

    async def print_form(self, box_id: str, message_id: str, document_id: str, *,
                         max_wait: float | None = None) -> PrintForm:
        """The PDF print form (with the operator's signature stamp) — ``GET /GeneratePrintForm``.

        [DIADOC] http/GeneratePrintForm.rst: ``204`` + ``Retry-After`` (seconds, empty body) while queued; 409 when
        the type has no print form — that one is final (``PermanentError``), not a retry.
        """
        params = {"boxId": box_id, "messageId": message_id, "documentId": document_id}

        async def call() -> httpx.Response:
            try:
                return await self._request("GET", "/GeneratePrintForm", params=params,
                                           operation="GeneratePrintForm", accept="application/pdf, */*")
            except RetryableError as exc:
                if exc.detail.get("status") == 409:
                    raise PermanentError("Диадок не формирует печатную форму для этого типа документа (409).",
                                         detail=exc.detail) from exc
                raise

        resp = await self._until_ready(call, operation="GeneratePrintForm", max_wait=max_wait)
        disp = resp.headers.get("Content-Disposition", "")
        name = None
        if "filename=" in disp:
            name = disp.split("filename=", 1)[1].strip().strip('"').split(";")[0]
        return PrintForm(content=resp.content, file_name=name, content_type=resp.headers.get("Content-Type"))

    async def signed_pdf(self, box_id: str, message_id: str, entity_id: str, *,
                         max_wait: float | None = None) -> tuple[DocumentStatus, PrintForm | None]:
        """The status and, once the counterparty signed (``WithRecipientSignature``), the printable PDF."""
        status = await self.get_document(box_id, message_id, entity_id)
        if not status.signed:
            return status, None
        return status, await self.print_form(box_id, message_id, entity_id, max_wait=max_wait)


class EventFeed:
    """Follows one box's event feed from the stored ``IndexKey``; the cursor moves only on ``commit(page)``.

    The cursor lives in ``SharedState`` under ``diadok:events:<box>`` (or wherever ``load``/``save`` callbacks put
    it), so every worker continues where the last committed page ended; a crash before commit re-reads the page
    (handlers must be idempotent — they are keyed by message/entity id).
    """

    def __init__(self, client: DiadokClient, box_id: str, *, state: SharedState | None = None,
                 key: str | None = None, **filters: Any) -> None:
        self.client = client
        self.box_id = box_id
        self.state = state or client.state
        self.key = key or f"diadok:events:{box_id}"
        self.filters = filters

    def cursor(self) -> str | None:
        v = self.state.get(self.key)
        return v.get("after_index_key") if v else None

    async def next_page(self, limit: int = MAX_EVENTS_PER_CALL) -> EventPage:
        return await self.client.get_new_events(self.box_id, self.cursor(), limit=limit, **self.filters)

    def commit(self, page: EventPage) -> bool:
        """Store ``page.next_index_key`` if the stored cursor is still the one the page was read from.

        Returns False (and changes nothing) when another worker already moved the cursor.
        """

        def cas(old: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
            current = old.get("after_index_key") if old else None
            if current != page.after_index_key:
                return None, False
            return {"after_index_key": page.next_index_key}, True

        return self.state.update(self.key, cas)
