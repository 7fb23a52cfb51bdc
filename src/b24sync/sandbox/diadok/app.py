"""Kontur.Diadok sandbox — a local emulator of the slice of the Diadok HTTP API that b24sync uses.

Written from the vendor's documentation, independently of ``b24sync.connectors.diadok`` (never imports it).
Facts: /work/shared/research/erp-side.md §8 and §12.3; developer.kontur.ru/doc/diadoc-api (http/PostMessage,
http/GetNewEvents_V8, http/GetOrganizationsByInnKpp, http/GetOrganization, http/GetDocument, http/GeneratePrintForm,
proto/BoxEvent, proto/BoxEventList, proto/Message(Patch), proto/Entity, proto/Document, proto/RecipientResponseStatus,
authentication, http/obsolete/Authenticate).

Emulated: JSON only (the real API defaults to protobuf and switches to JSON on ``Accept``/``Content-Type:
application/json``; a protobuf request here gets 415). Both ``Authorization`` styles (``Bearer`` and legacy
``DiadocAuth ddauth_api_client_id=…,ddauth_token=…`` with ``/V3/Authenticate?type=password`` issuing 24-hour
tokens). Seeded organisations and boxes; ``PostMessage`` idempotent on ``operationId`` (case-insensitive; MD5 of the
body when absent), optional ``204 + Retry-After`` while "processing", 409 when the recipient refuses documents;
events with opaque ``IndexKey`` cursors (≤ 100 per call, ``TotalCount``); a counterparty that signs or rejects after a
delay or through a test hook; ``GetDocument`` statuses; ``GeneratePrintForm`` answering ``204 + Retry-After`` for
the first N polls, then a generated PDF. Fault injection (random 500/429, latency).

Not emulated: real signatures (any non-empty ``Signature`` is accepted), XML title generation/validation of
formalized documents, drafts' lifecycle beyond storage, departments, counteragent lists, roaming, document
content > 1 MiB rules, protobuf. Error body texts are ours (the vendor's texts are not documented).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from b24sync.sandbox.diadok.pdf import make_pdf

TOKEN_TTL = 24 * 3600  # [DIADOC] Authorization.rst: 24 h
MAX_DOCS_PER_MESSAGE = 40
MAX_EVENTS = 100
TICKS_AT_UNIX_EPOCH = 621355968000000000  # .NET ticks (100 ns since 0001-01-01) at 1970-01-01

KNOWN_TYPES = {
    "Nonformalized", "Contract", "SupplementaryAgreement", "ProformaInvoice", "Invoice",
    "UniversalTransferDocument", "UniversalCorrectionDocument", "XmlAcceptanceCertificate", "AcceptanceCertificate",
}
# one-sided documents: no recipient response possible (proto/RecipientResponseStatus: NotAcceptable)
ONE_SIDED = {"ProformaInvoice", "Invoice"}


@dataclass
class Org:
    inn: str
    kpp: str
    name: str
    behaviour: str = "sign"  # what this counterparty does with documents awaiting its signature: sign|reject|manual
    accepts_documents: bool = True  # False → PostMessage 409 (Sociability forbids)
    box_id: str = ""
    org_id: str = ""

    def __post_init__(self) -> None:
        seed = f"{self.inn}/{self.kpp}/{self.name}"
        self.box_id = self.box_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "diadok-box:" + seed))
        self.org_id = self.org_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "diadok-org:" + seed))

    def to_json(self) -> dict[str, Any]:
        box_short = self.box_id.replace("-", "") + "@diadoc.ru"
        return {
            "OrgId": self.org_id, "OrgIdGuid": self.org_id, "Inn": self.inn, "Kpp": self.kpp,
            "FullName": self.name, "ShortName": self.name, "JoinedDiadocTreaty": True,
            "Boxes": [{"BoxId": box_short, "BoxIdGuid": self.box_id, "Title": self.name}],
        }


def default_orgs() -> list[Org]:
    """Ours first; INNs are valid check-digit vectors from fact sheet §9.2, the names are fictional."""
    return [
        Org("7736207543", "773601001", "ООО «Ромашка» (мы)", behaviour="manual"),
        Org("6663003127", "668501001", "АО «Лютик» (подписывает)", behaviour="sign"),
        Org("1234567894", "123401001", "ООО «Отказник» (отказывает)", behaviour="reject"),
        Org("7707083893", "773601001", "ПАО «Закрытый ящик» (не принимает документы)", accepts_documents=False),
        Org("773006366201", "", "ИП Двойников (роуминг)", behaviour="sign"),
        Org("773006366201", "", "ИП Двойников (представление другого оператора)", behaviour="sign"),
    ]


@dataclass
class SandboxConfig:
    client_ids: set[str] = field(default_factory=lambda: {"sandbox-client-id"})
    bearer_tokens: set[str] = field(default_factory=lambda: {"sandbox-access-token"})
    legacy_tokens: set[str] = field(default_factory=set)  # ready ddauth_token values (never expire)
    users: dict[str, str] = field(default_factory=lambda: {"robot@sandbox.local": "sandbox-password"})
    my_inns: set[str] = field(default_factory=lambda: {"7736207543"})  # orgs the account may act for
    sign_delay: float = 2.0  # seconds after sending until the counterparty acts; < 0 → only via test hook
    print_form_polls: int = 2  # GeneratePrintForm answers 204 + Retry-After this many times per document state
    post_message_polls: int = 0  # PostMessage answers 204 + Retry-After this many times per new operation
    retry_after: int = 1  # seconds in Retry-After
    fail_rate: float = 0.0
    latency: float = 0.0
    seed: int | None = None
    orgs: list[Org] = field(default_factory=default_orgs)
    clock: Callable[[], float] = time.time


def _ticks(ts: float) -> int:
    return TICKS_AT_UNIX_EPOCH + int(ts * 10_000_000)


def _norm_box(box_id: str | None) -> str:
    """Accept the GUID form and the legacy ``<32 hex>@diadoc.ru`` form of a box id."""
    if not box_id:
        return ""
    b = box_id.strip().lower()
    if b.endswith("@diadoc.ru"):
        h = b.split("@", 1)[0]
        if re.fullmatch(r"[0-9a-f]{32}", h):
            return str(uuid.UUID(h))
    try:
        return str(uuid.UUID(b))
    except ValueError:
        return b


class DiadokWorld:
    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.offset = 0.0  # test hook: shift the sandbox clock forward
        self.reset()

    def reset(self) -> None:
        self.orgs = list(self.cfg.orgs)
        self.box_index = {o.box_id: o for o in self.orgs}
        self.tokens: dict[str, float] = {}  # issued ddauth_token → expiry
        self.messages: dict[str, dict[str, Any]] = {}
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {o.box_id: [] for o in self.orgs}
        self.seq = 0
        self.print_polls: dict[tuple[str, str, str], int] = {}
        self.stats = {"post_message_calls": 0, "messages_created": 0, "print_form_calls": 0, "requests": 0}

    def now(self) -> float:
        return self.cfg.clock() + self.offset

    # -- index keys ------------------------------------------------------------------------------------------------
    # Opaque to clients; deliberately contains '+', '/' and '=' so a client must URL-encode it (proto/BoxEvent).
    @staticmethod
    def index_key(seq: int) -> str:
        return base64.b64encode(b"\xfb\xff" + seq.to_bytes(8, "big") + b"\xfe").decode("ascii")

    @staticmethod
    def parse_index_key(key: str) -> int | None:
        try:
            raw = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 11 or raw[:2] != b"\xfb\xff" or raw[-1:] != b"\xfe":
            return None
        return int.from_bytes(raw[2:10], "big")

    def add_event(self, box_id: str, body_key: str, body: dict[str, Any]) -> None:
        self.seq += 1
        self.events.setdefault(box_id, []).append({
            "_seq": self.seq, "EventId": str(uuid.uuid4()), "IndexKey": self.index_key(self.seq), body_key: body,
        })

    # -- documents -------------------------------------------------------------------------------------------------
    def document_json(self, doc: dict[str, Any], viewer_box: str) -> dict[str, Any]:
        counteragent = doc["to_box"] if viewer_box == doc["from_box"] else doc["from_box"]
        status = doc["status"]
        text = {
            "WaitingForRecipientSignature": "Ожидается подпись получателя",
            "WithRecipientSignature": "Подписан контрагентом",
            "RecipientSignatureRequestRejected": "Контрагент отказал в подписи",
            "WithRecipientPartiallySignature": "Подписан с разногласиями",
            "RecipientResponseStatusNotAcceptable": "Доставлен",
        }.get(status, status)
        out = {
            "MessageId": doc["message_id"], "EntityId": doc["entity_id"],
            "CreationTimestampTicks": _ticks(doc["sent_at"]), "CounteragentBoxId": counteragent,
            "TypeNamedId": doc["type"], "Function": doc.get("function") or "default",
            "Version": doc.get("version") or "", "FileName": doc.get("file_name") or "",
            "DocumentNumber": doc.get("number") or "", "DocumentDate": doc.get("date") or "",
            "CustomDocumentId": doc.get("custom_id") or "",
            "RecipientResponseStatus": status,
            "SenderSignatureStatus": "WithSenderSignature",
            "RevocationStatus": "RevocationStatusNone",
            "IsDeleted": False,
            "DocflowStatus": {"PrimaryStatus": {"Severity": "Info", "StatusText": text}},
        }
        if doc.get("signed_at"):
            out["LastModificationTimestampTicks"] = _ticks(doc["signed_at"])
        return out

    def message_json(self, msg: dict[str, Any], viewer_box: str) -> dict[str, Any]:
        entities = []
        for ent in msg["entities"]:
            e = {k: v for k, v in ent.items() if not k.startswith("_")}
            if ent.get("_doc"):
                e["DocumentInfo"] = self.document_json(self.docs[(msg["id"], ent["EntityId"])], viewer_box)
            entities.append(e)
        return {
            "MessageId": msg["id"], "TimestampTicks": _ticks(msg["sent_at"]), "LastPatchTimestampTicks":
            _ticks(msg.get("patched_at", msg["sent_at"])), "FromBoxId": msg["from_box"], "ToBoxId": msg["to_box"],
            "FromTitle": self.box_index[msg["from_box"]].name, "ToTitle": self.box_index[msg["to_box"]].name,
            "Entities": entities, "IsDraft": msg.get("is_draft", False), "IsDeleted": False,
            "MessageType": "Draft" if msg.get("is_draft") else "Letter",
        }

    def respond(self, doc: dict[str, Any], action: str) -> bool:
        """The counterparty signs / rejects a document awaiting its signature; adds a patch event to both boxes."""
        if doc["status"] != "WaitingForRecipientSignature":
            return False
        now = self.now()
        status, attachment = {
            "sign": ("WithRecipientSignature", "Signature"),
            "partial": ("WithRecipientPartiallySignature", "Signature"),
            "reject": ("RecipientSignatureRequestRejected", "SignatureRequestRejection"),
        }[action]
        doc["status"] = status
        doc["signed_at"] = now
        msg = self.messages[doc["message_id"]]
        ent = {"EntityType": "Attachment" if action == "reject" else "Signature", "EntityId": str(uuid.uuid4()),
               "ParentEntityId": doc["entity_id"], "AttachmentType": attachment,
               "SignerBoxId": doc["to_box"], "RawCreationDate": _ticks(now)}
        msg["entities"].append(ent)
        msg["patched_at"] = now
        patch = {"MessageId": msg["id"], "PatchId": str(uuid.uuid4()), "TimestampTicks": _ticks(now),
                 "Entities": [ent], "MessageType": "Letter"}
        for box in (doc["from_box"], doc["to_box"]):
            self.add_event(box, "Patch", patch)
        return True

    def tick(self) -> None:
        """Apply the counterparties' timed reactions that are due (lazy: evaluated at each request)."""
        if self.cfg.sign_delay < 0:
            return
        now = self.now()
        for doc in self.docs.values():
            if doc["status"] != "WaitingForRecipientSignature" or doc.get("hold"):
                continue
            behaviour = self.box_index[doc["to_box"]].behaviour
            if behaviour in ("sign", "reject") and now >= doc["sent_at"] + self.cfg.sign_delay:
                self.respond(doc, behaviour)


# -- HTTP -------------------------------------------------------------------------------------------------------


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(text, status_code=status, headers=headers)


_DIADOCAUTH_RE = re.compile(r"^DiadocAuth\s+(.*)$", re.I)


def create_app(cfg: SandboxConfig | None = None) -> FastAPI:
    cfg = cfg or SandboxConfig()
    world = DiadokWorld(cfg)
    app = FastAPI(title="b24sync Diadok sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world

    def parse_diadocauth(value: str) -> dict[str, str] | None:
        m = _DIADOCAUTH_RE.match(value.strip())
        if not m:
            return None
        parts = {}
        for piece in m.group(1).split(","):
            if "=" in piece:
                k, v = piece.split("=", 1)
                parts[k.strip().lower()] = v.strip()
        return parts

    def unauthorized(reason: str) -> Response:
        return _text(401, reason, {"WWW-Authenticate": "Bearer, DiadocAuth"})

    def check_auth(request: Request) -> Response | None:
        value = request.headers.get("Authorization")
        if not value:
            return unauthorized("Authorization header is missing")
        if value.lower().startswith("bearer "):
            if value[7:].strip() in cfg.bearer_tokens:
                return None
            return unauthorized("Access token is invalid or expired")
        parts = parse_diadocauth(value)
        if parts is None:
            return unauthorized("Unsupported authorization scheme")
        if parts.get("ddauth_api_client_id") not in cfg.client_ids:
            return unauthorized("ddauth_api_client_id is missing or not registered")
        token = parts.get("ddauth_token")
        if not token:
            return unauthorized("ddauth_token is missing")
        if token in cfg.legacy_tokens:
            return None
        exp = world.tokens.get(token)
        if exp is None or exp < world.now():
            return unauthorized("ddauth_token is invalid or expired")
        return None

    def my_boxes() -> set[str]:
        return {o.box_id for o in world.orgs if o.inn in cfg.my_inns}

    def box_access(box_id: str) -> tuple[str, Response | None]:
        b = _norm_box(box_id)
        if not b:
            return b, _text(400, "boxId is required")
        if b not in world.box_index:
            return b, _text(404, "Box not found")
        if b not in my_boxes():
            return b, _text(403, "Access to the box is denied for this token")
        return b, None

    @app.middleware("http")
    async def faults(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path.startswith("/_sandbox"):
            return await call_next(request)
        world.stats["requests"] += 1
        if cfg.latency > 0:
            await asyncio.sleep(cfg.latency)
        if cfg.fail_rate > 0 and world.rng.random() < cfg.fail_rate:
            if world.rng.random() < 0.5:
                return _text(429, "<html><body>429 Too Many Requests</body></html>",
                             {"Retry-After": str(cfg.retry_after)})  # nginx-style page (fact sheet §8)
            return _text(500, "Internal server error (injected by the sandbox)")
        accept = request.headers.get("Accept", "")
        ctype = request.headers.get("Content-Type", "")
        if "protobuf" in accept or ("octet-stream" in ctype and request.url.path.endswith("PostMessage")):
            return _text(415, "The sandbox speaks JSON only (Accept/Content-Type: application/json)")
        world.tick()
        return await call_next(request)

    # -- auth ------------------------------------------------------------------------------------------------------

    @app.post("/V3/Authenticate")
    async def authenticate(request: Request, type: str = "") -> Response:
        parts = parse_diadocauth(request.headers.get("Authorization", "")) or {}
        if parts.get("ddauth_api_client_id") not in cfg.client_ids:
            return unauthorized("ddauth_api_client_id is missing or not registered")
        if type != "password":
            return _text(400, "Only type=password is emulated")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _text(400, "Body must be JSON {login, password}")
        login, password = body.get("login"), body.get("password")
        if not login or cfg.users.get(login) != password:
            return unauthorized("Wrong login or password")
        token = base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode("ascii")
        world.tokens[token] = world.now() + TOKEN_TTL
        return _text(200, token)

    # -- organisations ---------------------------------------------------------------------------------------------

    @app.get("/GetMyOrganizations")
    async def get_my_organizations(request: Request) -> Response:
        if (r := check_auth(request)) is not None:
            return r
        return JSONResponse({"Organizations": [o.to_json() for o in world.orgs if o.inn in cfg.my_inns]})

    @app.get("/GetOrganizationsByInnKpp")
    async def get_orgs_by_inn_kpp(request: Request, inn: str = "", kpp: str = "") -> Response:
        if (r := check_auth(request)) is not None:
            return r
        if not inn:
            return _text(400, "inn is required")
        found = [o for o in world.orgs if o.inn == inn and (not kpp or o.kpp == kpp)]
        return JSONResponse({"Organizations": [o.to_json() for o in found]})

    @app.get("/GetOrganization")
    async def get_organization(request: Request, inn: str = "", kpp: str = "", boxId: str = "") -> Response:
        if (r := check_auth(request)) is not None:
            return r
        if boxId:
            found = [o for o in world.orgs if o.box_id == _norm_box(boxId)]
        elif inn:
            found = [o for o in world.orgs if o.inn == inn and (not kpp or o.kpp == kpp)]
        else:
            return _text(400, "one of orgId, boxId, fnsParticipantId, inn is required")
        if len(found) != 1:  # http/GetOrganization: 404 if not found or several found by INN
            return _text(404, "Organization not found or not unique")
        return JSONResponse(found[0].to_json())

    # -- messages --------------------------------------------------------------------------------------------------

    @app.post("/V3/PostMessage")
    async def post_message(request: Request) -> Response:
        if (r := check_auth(request)) is not None:
            return r
        world.stats["post_message_calls"] += 1
        raw = await request.body()
        op = (request.query_params.get("operationId") or hashlib.md5(raw).hexdigest()).lower()
        known = world.operations.get(op)
        if known is not None:
            if known["polls_left"] > 0:
                known["polls_left"] -= 1
                return Response(status_code=204, headers={"Retry-After": str(cfg.retry_after)})
            return JSONResponse(world.message_json(world.messages[known["message_id"]], known["from_box"]))
        try:
            body = json.loads(raw)
        except ValueError:
            return _text(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return _text(400, "MessageToPost must be a JSON object")
        from_box, err = box_access(body.get("FromBoxId", ""))
        if err is not None:
            return err
        to_box = _norm_box(body.get("ToBoxId"))
        if to_box not in world.box_index:
            return _text(400, "ToBoxId is missing or unknown")
        atts = body.get("DocumentAttachments") or []
        if not atts:
            return _text(400, "DocumentAttachments must contain at least one document")
        if len(atts) > MAX_DOCS_PER_MESSAGE:
            return _text(400, f"Too many documents in a message (max {MAX_DOCS_PER_MESSAGE})")
        is_draft = bool(body.get("IsDraft"))
        parsed = []
        for i, att in enumerate(atts):
            t = att.get("TypeNamedId")
            if t not in KNOWN_TYPES:
                return _text(400, f"DocumentAttachments[{i}].TypeNamedId {t!r} is unknown")
            sc = att.get("SignedContent") or {}
            try:
                content = base64.b64decode(sc.get("Content") or "", validate=True)
            except (binascii.Error, ValueError):
                return _text(400, f"DocumentAttachments[{i}].SignedContent.Content is not base64")
            if not content:
                return _text(400, f"DocumentAttachments[{i}].SignedContent.Content is empty")
            if not (sc.get("Signature") or sc.get("SignWithTestSignature") or is_draft):
                return _text(400, f"DocumentAttachments[{i}] has no sender signature")
            parsed.append((att, content))
        recipient = world.box_index[to_box]
        if not recipient.accepts_documents and not is_draft:
            return _text(409, "Recipient does not accept documents from counteragents (Sociability)")
        now = world.now()
        mid = str(uuid.uuid4())
        msg = {"id": mid, "from_box": from_box, "to_box": to_box, "sent_at": now, "entities": [],
               "is_draft": is_draft}
        for att, content in parsed:
            eid = str(uuid.uuid4())
            meta = {m.get("Key"): m.get("Value") for m in att.get("Metadata") or [] if isinstance(m, dict)}
            need_sig = bool(att.get("NeedRecipientSignature")) and att["TypeNamedId"] not in ONE_SIDED
            world.docs[(mid, eid)] = {
                "message_id": mid, "entity_id": eid, "from_box": from_box, "to_box": to_box, "sent_at": now,
                "type": att["TypeNamedId"], "function": att.get("Function"), "version": att.get("Version"),
                "custom_id": att.get("CustomDocumentId"), "content": content,
                "file_name": meta.get("FileName"), "number": meta.get("DocumentNumber"),
                "date": meta.get("DocumentDate"),
                "status": "WaitingForRecipientSignature" if need_sig else "RecipientResponseStatusNotAcceptable",
                "hold": is_draft,
            }
            msg["entities"].append({"EntityType": "Attachment", "EntityId": eid,
                                    "AttachmentType": att["TypeNamedId"], "FileName": meta.get("FileName") or "",
                                    "NeedRecipientSignature": need_sig, "RawCreationDate": _ticks(now),
                                    "_doc": True})
            if (att.get("SignedContent") or {}).get("Signature"):
                msg["entities"].append({"EntityType": "Signature", "EntityId": str(uuid.uuid4()),
                                        "ParentEntityId": eid, "AttachmentType": "Signature",
                                        "SignerBoxId": from_box})
        world.messages[mid] = msg
        world.operations[op] = {"message_id": mid, "from_box": from_box, "polls_left": cfg.post_message_polls}
        world.stats["messages_created"] += 1
        world.add_event(from_box, "Message", world.message_json(msg, from_box))
        if not is_draft:
            world.add_event(to_box, "Message", world.message_json(msg, to_box))
        if cfg.post_message_polls > 0:
            world.operations[op]["polls_left"] -= 1
            return Response(status_code=204, headers={"Retry-After": str(cfg.retry_after)})
        return JSONResponse(world.message_json(msg, from_box))

    # -- events ----------------------------------------------------------------------------------------------------

    async def get_new_events(request: Request) -> Response:
        if (r := check_auth(request)) is not None:
            return r
        q = request.query_params
        box, err = box_access(q.get("boxId", ""))
        if err is not None:
            return err
        after = 0
        if q.get("afterIndexKey"):
            if q.get("afterEventId"):
                return _text(400, "afterIndexKey and afterEventId cannot be used together")
            parsed = world.parse_index_key(q["afterIndexKey"])
            if parsed is None:
                return _text(400, "afterIndexKey: cursor must have valid value")
            after = parsed
        try:
            limit = int(q.get("limit") or MAX_EVENTS)
        except ValueError:
            return _text(400, "limit must be an integer")
        if not 1 <= limit <= MAX_EVENTS:
            return _text(400, f"limit must be within 1..{MAX_EVENTS}")
        types = {t for t in (q.get("typeNamedId") or "").split(",") if t}
        directions = {d for d in (q.get("documentDirection") or "").split(",") if d}

        def matches(ev: dict[str, Any]) -> bool:
            body = ev.get("Message") or ev.get("Patch") or {}
            msg = world.messages.get(body.get("MessageId"))
            if msg is None:
                return False
            docs = [d for (mid, _), d in world.docs.items() if mid == msg["id"]]
            if types and not any(d["type"] in types for d in docs):
                return False
            if directions:
                direction = "Outbound" if msg["from_box"] == box else "Inbound"
                if direction not in directions:
                    return False
            return True

        pending = [e for e in world.events.get(box, []) if e["_seq"] > after and matches(e)]
        page = pending[:limit]
        return JSONResponse({
            "Events": [{k: v for k, v in e.items() if not k.startswith("_")} for e in page],
            "TotalCount": len(pending), "TotalCountType": "Equal",
        })

    app.add_api_route("/V7/GetNewEvents", get_new_events, methods=["GET"])
    app.add_api_route("/V8/GetNewEvents", get_new_events, methods=["GET"])

    # -- documents -------------------------------------------------------------------------------------------------

    def find_doc(q: Any, id_param: str) -> tuple[dict[str, Any] | None, str, Response | None]:
        box, err = box_access(q.get("boxId", ""))
        if err is not None:
            return None, box, err
        mid, eid = q.get("messageId"), q.get(id_param)
        if not mid or not eid:
            return None, box, _text(400, f"messageId and {id_param} are required")
        doc = world.docs.get((mid, eid))
        if doc is None or box not in (doc["from_box"], doc["to_box"]):
            return None, box, _text(404, "Message or document not found in the box")
        return doc, box, None

    @app.get("/V3/GetDocument")
    async def get_document(request: Request) -> Response:
        if (r := check_auth(request)) is not None:
            return r
        doc, box, err = find_doc(request.query_params, "entityId")
        if err is not None:
            return err
        out = world.document_json(doc, box)
        if request.query_params.get("injectEntityContent", "true").lower() != "false":
            out["Content"] = {"Size": len(doc["content"]),
                              "Data": base64.b64encode(doc["content"]).decode("ascii")}
        return JSONResponse(out)

    @app.get("/V4/GetEntityContent")
    async def get_entity_content(request: Request) -> Response:
        if (r := check_auth(request)) is not None:
            return r
        doc, _box, err = find_doc(request.query_params, "entityId")
        if err is not None:
            return err
        return Response(doc["content"], media_type="application/octet-stream")

    @app.get("/GeneratePrintForm")
    async def generate_print_form(request: Request) -> Response:
        if (r := check_auth(request)) is not None:
            return r
        world.stats["print_form_calls"] += 1
        doc, box, err = find_doc(request.query_params, "documentId")
        if err is not None:
            return err
        key = (doc["message_id"], doc["entity_id"], doc["status"])
        polls = world.print_polls.get(key, 0)
        world.print_polls[key] = polls + 1
        if polls < cfg.print_form_polls:
            # http/GeneratePrintForm.rst: 204, empty body, Retry-After seconds while the form is queued
            return Response(status_code=204, headers={"Retry-After": str(cfg.retry_after)})
        sender, recipient = world.box_index[doc["from_box"]], world.box_index[doc["to_box"]]
        lines = [
            f"Print form: {doc['type']} {doc.get('number') or ''}".strip(),
            f"File: {doc.get('file_name') or '-'}",
            f"Sender: {sender.name} INN {sender.inn}",
            f"Recipient: {recipient.name} INN {recipient.inn}",
            f"Message {doc['message_id']}",
            f"Document {doc['entity_id']}",
            f"Recipient response: {doc['status']}",
            "Operator stamp: Diadok SANDBOX (not a legally valid document)",
        ]
        pdf = make_pdf(lines, title=f"{doc['type']} {doc['entity_id']}")
        fname = f"{doc['type']}_{doc['entity_id'][:8]}.pdf"
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{fname}"'})

    # -- test hooks ------------------------------------------------------------------------------------------------

    @app.post("/_sandbox/respond")
    async def hook_respond(request: Request) -> Response:
        """The counterparty acts now: ``{"message_id", "entity_id", "action": "sign"|"reject"|"partial"}``."""
        body = await request.json()
        action = body.get("action", "sign")
        if action not in ("sign", "reject", "partial"):
            return JSONResponse({"error": "action must be sign, reject or partial"}, status_code=400)
        doc = world.docs.get((body.get("message_id"), body.get("entity_id")))
        if doc is None:
            return JSONResponse({"error": "no such document"}, status_code=404)
        doc["hold"] = False
        return JSONResponse({"changed": world.respond(doc, action), "status": doc["status"]})

    @app.post("/_sandbox/advance")
    async def hook_advance(request: Request) -> Response:
        """Move the sandbox clock forward: ``{"seconds": 60}`` (timed signatures and token expiry follow)."""
        body = await request.json()
        world.offset += float(body.get("seconds", 0))
        world.tick()
        return JSONResponse({"offset": world.offset})

    @app.get("/_sandbox/state")
    async def hook_state() -> Response:
        return JSONResponse({
            "stats": world.stats, "operations": len(world.operations), "messages": len(world.messages),
            "documents": [{"message_id": d["message_id"], "entity_id": d["entity_id"], "type": d["type"],
                           "custom_id": d.get("custom_id"), "status": d["status"]} for d in world.docs.values()],
            "boxes": [{"box_id": o.box_id, "inn": o.inn, "kpp": o.kpp, "name": o.name, "behaviour": o.behaviour,
                       "mine": o.inn in cfg.my_inns} for o in world.orgs],
        })

    @app.post("/_sandbox/reset")
    async def hook_reset() -> Response:
        world.reset()
        return JSONResponse({"ok": True})

    return app
