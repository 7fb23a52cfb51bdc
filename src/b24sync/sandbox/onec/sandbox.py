"""``OneCSandbox``: the Python API tests and demos use (start/stop, data helpers "as a 1C user would")."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from typing import Any

import uvicorn

from b24sync.sandbox.onec.app import Faults, ODataService, UserSpec
from b24sync.sandbox.onec.commerceml import SiteExchangeClient, generate_catalog, parse_orders
from b24sync.sandbox.onec.hs import EventPusher, HttpServices
from b24sync.sandbox.onec.schema import EMPTY_REF
from b24sync.sandbox.onec.seed import seed_demo, seed_volume
from b24sync.sandbox.onec.store import Store


class OneCSandbox:
    def __init__(self, user: str = "odata", password: str = "secret", base: str = "trade", *,
                 seed: str | None = "demo", seed_counterparties: int = 0, fail_rate: float = 0.0,
                 read_fail_rate: float = 0.0,
                 latency_ms: int = 0, cold_start_ms: int = 0, virtual_table_latency_ms: int = 0,
                 exchange_plan: str = "ОбменСB24", strict_writes: bool = False,
                 inlinecount_ignores_paging: bool = False, state_file: str | None = None,
                 random_seed: int | None = None, profile: str = "ut11", order_state: str = "composite"):
        """``profile``: the configuration emulated — ``ut11`` (УТ 11 / ERP 2, default), ``bp30`` (Бухгалтерия
        предприятия 3.0) or ``unf30`` (УНФ 3.0); see profiles.py. Each instance is its own base (own GUIDs and
        number sequences), so two sandboxes are two bases. ``order_state`` (unf30): ``composite`` — the order's
        state as УНФ 3.0.8.73 declares it (``СостояниеЗаказа`` + ``_Type``, ``ВариантЗавершения``) — or ``key``,
        the older reading (``СостояниеЗаказа_Key``, ``Закрыт``)."""
        self.base = base
        self.store = Store(exchange_plan=exchange_plan, profile=profile, order_state=order_state)
        self.profile = self.store.profile
        self.state_file = state_file
        loaded = bool(state_file) and self.store.load_sqlite(state_file)
        self.ids: dict = {}
        if not loaded and seed == "demo":
            if self.profile == "ut11":
                self.ids = seed_demo(self.store)
            else:
                from b24sync.sandbox.onec.seed_profiles import seed_profile

                self.ids = seed_profile(self.store)
        if not loaded and seed_counterparties:
            seed_volume(self.store, seed_counterparties)
        self.users = {user: UserSpec(password)}
        self.faults = Faults(fail_rate=fail_rate, read_fail_rate=read_fail_rate, latency_ms=latency_ms, cold_start_ms=cold_start_ms,
                             virtual_table_latency_ms=virtual_table_latency_ms)
        if random_seed is not None:
            self.faults._rng = random.Random(random_seed)
        self.events = EventPusher(base=base)
        self.store.listeners.append(self.events.on_store_event)
        self.service = ODataService(self.store, base=base, users=self.users, faults=self.faults,
                                    strict_writes=strict_writes, inlinecount_ignores_paging=inlinecount_ignores_paging,
                                    hs_handler=HttpServices(self.store))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def app(self) -> ODataService:
        return self.service

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("sandbox is not started")
        return f"http://127.0.0.1:{self.port}/{self.base}"

    @property
    def odata_url(self) -> str:
        return f"{self.base_url}/odata/standard.odata/"

    @property
    def hs_url(self) -> str:
        return f"{self.base_url}/hs/"

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.service, log_level="error", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[sock])),
                                        name="onec-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        self.faults._last = None  # the first request after start is the cold one (§1.11)
        return self.odata_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
        self._server = None
        if self.state_file:
            self.store.save_sqlite(self.state_file)

    def __enter__(self) -> "OneCSandbox":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ configuration helpers
    def add_user(self, login: str, password: str, *, read_only: bool = False, forbidden: set[str] | None = None) -> None:
        self.users[login] = UserSpec(password, read_only, set(forbidden or ()))

    def entity_sets(self) -> list[str]:
        return self.service._entity_set_names()

    def publish_only(self, names: set[str] | None) -> None:
        """§1.1 composition: None = everything; otherwise unpublished sets answer 404."""
        self.store.published = set(names) if names is not None else None
        self.service._metadata_cache = None

    def inject_fault(self, target: str, kind: str, times: int | None = 1) -> None:
        """target: entity set name, "$metadata", "SelectChanges" or "*"; kind: 500, 503, timeout, reset, lost
        (a write is applied and its answer is lost; reads pass)."""
        self.faults.forced.setdefault(target, []).append([str(kind), times])

    def clear_faults(self) -> None:
        self.faults.forced.clear()
        self.faults.fail_rate = 0.0
        self.faults.read_fail_rate = 0.0

    def fail_posting(self, entity_set: str, text: str | None) -> None:
        """Scripted handler failure (§1.9): Post answers 500 code -1 with this text."""
        if text is None:
            self.store.posting_failures.pop(entity_set, None)
        else:
            self.store.posting_failures[entity_set] = text

    # ------------------------------------------------------------------ exchange plan
    def add_exchange_node(self, code: str, description: str = "") -> str:
        node = self.store.create(self.store.exchange_plan, {"Code": code, "Description": description or code})
        return node["Ref_Key"]

    def node(self, ref: str) -> dict:
        return self.store.get(self.store.exchange_plan, ref)

    # ------------------------------------------------------------------ data helpers ("as a 1C user would")
    def find(self, entity_set: str, **eq: Any) -> list[dict]:
        with self.store.lock:
            return [r for r in self.store.objects[entity_set].values() if all(r.get(k) == v for k, v in eq.items())]

    def get(self, entity_set: str, ref: str) -> dict:
        return self.store.get(entity_set, ref)

    def edit(self, entity_set: str, ref: str, **changes: Any) -> dict:
        """Edit an object inside 1C: bumps DataVersion and registers the change for every node."""
        return self.store.update(entity_set, ref, changes)

    def edit_after_next_read(self, entity_set: str, ref: str, **changes: Any) -> None:
        """A 1C user saves the object right after the next read of it by key is answered — the race between a
        client's read and its write. 1C itself would apply a PATCH with the stale DataVersion (§1.10 ⚠); only a
        client that re-reads DataVersion before writing notices."""
        self.service.edits_after_read[(entity_set, ref)] = changes

    def create(self, entity_set: str, **data: Any) -> dict:
        return self.store.create(entity_set, data)

    def post(self, entity_set: str, ref: str) -> dict:
        return self.store.post(entity_set, ref)

    def unpost(self, entity_set: str, ref: str) -> dict:
        return self.store.unpost(entity_set, ref)

    def set_order_status(self, ref: str, status: str) -> dict:
        return self.edit("Document_ЗаказКлиента", ref, Статус=status)

    def set_invoice_status(self, ref: str, status: str) -> dict | None:
        """БП: the accountant sets the customer invoice's payment status (Оплачен, ОплаченЧастично, НеОплачен,
        Отменен) — a record of InformationRegister_СтатусыДокументов (document-flows.md B.3)."""
        return self.store.set_document_status(self.get("Document_СчетНаОплатуПокупателю", ref), status)

    def set_bank_state(self, ref: str, state: str) -> dict:
        """БП: a payment order's state (Подготовлено, НаПодписи, Согласовано, Отправлено, Оплачено, Отклонено) — a
        record of InformationRegister_СостоянияБанковскихДокументов (docs/flow-suppliers.md)."""
        return self.store.set_bank_document_state(self.get("Document_ПлатежноеПоручение", ref), state)

    def register_payment(self, order_ref: str, amount: float | None = None, *, incoming_number: str | None = None,
                         incoming_date: str | None = None, basis_type: str = "Document_ЗаказКлиента",
                         post: bool = True, cash: bool = False, **header: Any) -> dict:
        """A bank receipt (cash receipt with ``cash``) paying an order — or, with ``basis_type``, another document
        (an invoice) — in its РасшифровкаПлатежа (document-flows.md B.4); posted unless ``post`` is false (fires
        payment.posted)."""
        name = "Document_ПриходныйКассовыйОрдер" if cash else "Document_ПоступлениеБезналичныхДенежныхСредств"
        basis = self.get(basis_type, order_ref)
        amount = basis["СуммаДокумента"] if amount is None else amount
        data: dict[str, Any] = dict(
            Контрагент_Key=basis["Контрагент_Key"], Партнер_Key=basis.get("Партнер_Key"), СуммаДокумента=amount,
            РасшифровкаПлатежа=[{"LineNumber": 1, "ОснованиеПлатежа": order_ref,
                                 "ОснованиеПлатежа_Type": f"StandardODATA.{basis_type}", "Сумма": amount}])
        if not cash:
            data.update(НазначениеПлатежа=f"Оплата по счету № {basis['Number']}", ПроведеноБанком=True)
            if incoming_number is not None:
                data.update(НомерВходящегоДокумента=incoming_number,
                            ДатаВходящегоДокумента=incoming_date or "2026-03-12T00:00:00")
        data.update(header)
        doc = self.create(name, **data)
        return self.post(name, doc["Ref_Key"]) if post else doc

    def ship_order(self, order_ref: str) -> dict:
        """Create and post a shipment for an order (fires shipment.posted)."""
        order = self.get("Document_ЗаказКлиента", order_ref)
        doc = self.create("Document_РеализацияТоваровУслуг", Контрагент_Key=order["Контрагент_Key"],
                          Партнер_Key=order["Партнер_Key"], Склад_Key=order["Склад_Key"], ЗаказКлиента_Key=order_ref,
                          СуммаДокумента=order["СуммаДокумента"], ЦенаВключаетНДС=True,
                          Товары=[dict(r, ЗаказКлиента_Key=order_ref) for r in order["Товары"]])
        return self.post("Document_РеализацияТоваровУслуг", doc["Ref_Key"])

    def ship(self, lines: list[tuple[str, float]], *, status: str = "Отгружено", post: bool = True) -> dict:
        """A shipment of several orders («по нескольким заказам», B.6): one goods row per (order, amount with VAT),
        the header order left empty when the rows name more than one order."""
        orders = [self.get("Document_ЗаказКлиента", ref) for ref, _ in lines]
        first = orders[0]
        rows = []
        for n, ((ref, amount), order) in enumerate(zip(lines, orders, strict=True), 1):
            item = (order.get("Товары") or [{}])[0].get("Номенклатура_Key", EMPTY_REF)
            rows.append({"LineNumber": n, "Номенклатура_Key": item, "Количество": 1, "Цена": amount,
                         "Сумма": amount, "СуммаСНДС": amount, "ЗаказКлиента_Key": ref})
        head = first["Ref_Key"] if len({ref for ref, _ in lines}) == 1 else EMPTY_REF
        doc = self.create("Document_РеализацияТоваровУслуг", Контрагент_Key=first["Контрагент_Key"],
                          Партнер_Key=first["Партнер_Key"], Склад_Key=first["Склад_Key"], ЗаказКлиента_Key=head,
                          СуммаДокумента=sum(a for _, a in lines), ЦенаВключаетНДС=True, Статус=status, Товары=rows)
        return self.post("Document_РеализацияТоваровУслуг", doc["Ref_Key"]) if post else doc

    def attach_file(self, owner_set: str, owner_ref: str, name: str, content: bytes, *, signed: bool = False,
                    storage: str = "register", description: str = "", modified: str | None = None) -> dict:
        """Attach a file to an object as a 1C user does (BSP, document-flows.md B.7, B.9). ``storage``:
        ``register`` (BSP 3.1: bytes in Catalog_ХранилищеДвоичныхДанных via InformationRegister_ХранилищеФайлов),
        ``item`` (older storage: ``ФайлХранилище`` on the item) or ``volumes`` (on the server disk: OData cannot read
        the bytes; the sample HTTP service can). ``modified`` sets ``ДатаМодификацииУниверсальная`` (1C keeps whole
        seconds, so files attached within one second otherwise tie)."""
        import base64
        import hashlib
        from datetime import datetime

        stem, _, ext = name.rpartition(".")
        b64 = base64.b64encode(content).decode("ascii")
        item = {"Description": stem or name, "Расширение": ext if stem else "", "Размер": len(content),
                "ВладелецФайла_Key": owner_ref, "ПодписанЭП": signed, "Описание": description,
                "ТипХраненияФайла": "ВТомахНаДиске" if storage == "volumes" else "ВИнформационнойБазе",
                "ДатаМодификацииУниверсальная": modified or datetime.utcnow().replace(microsecond=0).isoformat()}
        if storage == "item":
            item.update({"ФайлХранилище_Base64Data": b64, "ФайлХранилище_Type": "application/octet-stream"})
        if storage == "volumes":
            item["ПутьКФайлу"] = f"{owner_ref[:2]}/{hashlib.md5(content).hexdigest()}.{ext}"  # noqa: S324
        files_set = f"Catalog_{owner_set.split('_', 1)[1]}ПрисоединенныеФайлы"
        rec = self.store.create(files_set, item)
        if storage == "register":
            blob = self.store.create("Catalog_ХранилищеДвоичныхДанных", {
                "Размер": len(content), "Хеш": base64.b64encode(hashlib.sha1(content).digest()).decode(),  # noqa: S324
                "ДвоичныеДанные_Base64Data": b64, "ДвоичныеДанные_Type": "application/octet-stream"})
            self.store.write_info("InformationRegister_ХранилищеФайлов", {
                "Файл": rec["Ref_Key"], "Файл_Type": f"StandardODATA.{files_set}",
                "ХранилищеДвоичныхДанных_Key": blob["Ref_Key"]})
        if storage == "volumes":
            self.store.__dict__.setdefault("volume_files", {})[rec["Ref_Key"]] = content
        return rec

    # ------------------------------------------------------------------ events (HTTP-service style webhooks)
    def configure_events(self, url: str | None, *, secret: str | None = None, mode: str = "hmac",
                         kinds: set[str] | None = None) -> None:
        self.events.url, self.events.secret, self.events.mode, self.events.kinds = url, secret, mode, kinds

    def push_event(self, url: str, kind: str, payload: dict, *, secret: str | None = None, mode: str | None = None):
        return self.events.push(url, kind, payload, secret=secret, mode=mode)

    # ------------------------------------------------------------------ CommerceML (1C → site)
    def generate_commerceml(self, **kw: Any) -> dict[str, bytes]:
        return generate_catalog(self.store, **kw)

    def exchange_catalog(self, site_url: str, user: str, password: str, files: dict[str, bytes] | None = None):
        client = SiteExchangeClient(site_url, user, password)
        try:
            return client.exchange_catalog(files or self.generate_commerceml())
        finally:
            client.close()

    def pull_orders(self, site_url: str, user: str, password: str, *, confirm: bool = True,
                    import_orders: bool = False) -> list[dict]:
        client = SiteExchangeClient(site_url, user, password)
        try:
            report = client.pull_orders(confirm=confirm)
        finally:
            client.close()
        orders = parse_orders(report.orders_xml) if report.orders_xml.strip() else []
        if import_orders:
            for o in orders:
                o["ref"] = self._import_site_order(o)
        return orders

    def _import_site_order(self, o: dict) -> str | None:
        cps = self.find("Catalog_Контрагенты", ИНН=o["counterparty"].get("inn", "")) if o["counterparty"].get("inn") else []
        rows = []
        for n, item in enumerate(o["items"], 1):
            prod = next(iter(self.find("Catalog_Номенклатура", Артикул=item["sku"])), None) if item["sku"] else None
            if prod is None and item["id"]:
                prod = self.store.objects["Catalog_Номенклатура"].get(item["id"].split("#")[0])
            qty, price = float(item["qty"] or 0), float(item["price"] or 0)
            rows.append({"LineNumber": n, "Номенклатура_Key": prod["Ref_Key"] if prod else EMPTY_REF,
                         "Количество": qty, "Цена": price, "Сумма": round(qty * price, 2)})
        doc = self.create("Document_ЗаказКлиента", Контрагент_Key=cps[0]["Ref_Key"] if cps else EMPTY_REF,
                          НомерПоДаннымКлиента=o["number"], СуммаДокумента=float(o["sum"] or 0), Товары=rows)
        return doc["Ref_Key"]
