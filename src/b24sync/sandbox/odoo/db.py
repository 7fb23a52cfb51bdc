"""The Odoo sandbox's database: models, fields, records and the ORM rules a client can observe.

Behaviour from the fact sheet (../shared/research/other-erps-and-bus.md §1.3–1.9, checklist §1.11):

* ``write_date`` / ``create_date`` are the **start time of the call's transaction**, at second precision
  (``YYYY-MM-DD HH:MM:SS``, UTC); ``write()`` bumps ``write_date`` even when nothing changed; editing an order line
  does not touch the order's ``write_date``.
* Empty values read back as ``False``; a many2one reads as ``[id, display_name]``; x2many as a list of ids; x2many
  writes take the command tuples ``(0, 0, vals)``, ``(1, id, vals)``, ``(2, id)``, ``(4, id)``, ``(5,)``,
  ``(6, 0, ids)``.
* State machines by business methods: ``sale.order.action_confirm`` / ``action_cancel`` / ``action_draft``;
  ``account.move.action_post`` (the number from the journal sequence is assigned at posting; a posted move refuses
  edits of its content) / ``button_draft``; ``payment_state`` from the residual (``not_paid``, ``partial``,
  ``paid``; ``in_payment`` when configured, §1.5).
* ``res.partner.vat``: with ``base_vat`` a Russian number must be 10 or 12 digits with the FNS check digits
  (§1.9) — else ``ValidationError``.
* No optimistic locking: last write wins.

Written from the fact sheet, independently of b24sync's Odoo connector.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


class OdooError(Exception):
    """An exception the server raises; ``name`` is its fully qualified class (``error.data.name``)."""

    name = "odoo.exceptions.UserError"
    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserError(OdooError):
    pass


class ValidationError(OdooError):
    name = "odoo.exceptions.ValidationError"


class MissingError(OdooError):
    name = "odoo.exceptions.MissingError"
    status = 404


class AccessError(OdooError):
    name = "odoo.exceptions.AccessError"
    status = 403


class AccessDenied(OdooError):
    name = "odoo.exceptions.AccessDenied"
    status = 401


class NotFound(OdooError):
    name = "werkzeug.exceptions.NotFound"
    status = 404


class ArgumentError(OdooError):
    name = "builtins.TypeError"
    status = 422


@dataclass(frozen=True)
class F:
    type: str  # char text boolean integer float monetary date datetime selection many2one one2many many2many
    string: str = ""
    relation: str | None = None
    inverse: str | None = None
    selection: tuple[tuple[str, str], ...] = ()
    readonly: bool = False
    required: bool = False


_AUDIT = {"id": F("integer", "ID", readonly=True), "create_date": F("datetime", "Created on", readonly=True),
          "write_date": F("datetime", "Last Updated on", readonly=True),
          "create_uid": F("many2one", "Created by", "res.users", readonly=True),
          "write_uid": F("many2one", "Last Updated by", "res.users", readonly=True),
          "display_name": F("char", "Display Name", readonly=True)}

SALE_STATES = (("draft", "Quotation"), ("sent", "Quotation Sent"), ("sale", "Sales Order"), ("cancel", "Cancelled"))
MOVE_STATES = (("draft", "Draft"), ("posted", "Posted"), ("cancel", "Cancelled"))
PAYMENT_STATES = (("not_paid", "Not Paid"), ("in_payment", "In Payment"), ("paid", "Paid"), ("partial", "Partially Paid"),
                  ("reversed", "Reversed"), ("blocked", "Blocked"), ("invoicing_legacy", "Invoicing App Legacy"))
MOVE_TYPES = (("entry", "Journal Entry"), ("out_invoice", "Customer Invoice"), ("out_refund", "Customer Credit Note"),
              ("in_invoice", "Vendor Bill"), ("in_refund", "Vendor Credit Note"), ("out_receipt", "Sales Receipt"),
              ("in_receipt", "Purchase Receipt"))

MODELS: dict[str, dict[str, F]] = {
    "res.users": {"name": F("char", "Name", required=True), "login": F("char", "Login", required=True),
                  "partner_id": F("many2one", "Related Partner", "res.partner")},
    "res.country": {"name": F("char", "Country Name", required=True), "code": F("char", "Country Code")},
    "res.currency": {"name": F("char", "Currency", required=True), "rate": F("float", "Current Rate"),
                     "active": F("boolean", "Active")},
    "res.partner": {
        "name": F("char", "Name"), "is_company": F("boolean", "Is a Company"),
        "company_type": F("selection", "Company Type", selection=(("person", "Individual"), ("company", "Company"))),
        "parent_id": F("many2one", "Related Company", "res.partner"),
        "child_ids": F("one2many", "Contact", "res.partner", inverse="parent_id"),
        "type": F("selection", "Address Type", selection=(("contact", "Contact"), ("invoice", "Invoice Address"),
                                                           ("delivery", "Delivery Address"), ("other", "Other Address"))),
        "vat": F("char", "Tax ID"), "company_registry": F("char", "Company ID"), "ref": F("char", "Reference"),
        "email": F("char", "Email"), "phone": F("char", "Phone"), "mobile": F("char", "Mobile"),
        "street": F("char", "Street"), "city": F("char", "City"), "zip": F("char", "Zip"),
        "country_id": F("many2one", "Country", "res.country"), "function": F("char", "Job Position"),
        "credit_limit": F("monetary", "Credit Limit"), "active": F("boolean", "Active"),
        "commercial_partner_id": F("many2one", "Commercial Entity", "res.partner", readonly=True),
    },
    "product.product": {
        "name": F("char", "Name", required=True), "default_code": F("char", "Internal Reference"),
        "barcode": F("char", "Barcode"), "list_price": F("float", "Sales Price"),
        "type": F("selection", "Product Type", selection=(("consu", "Goods"), ("service", "Service"),
                                                           ("combo", "Combo"))),
        "is_storable": F("boolean", "Track Inventory"), "active": F("boolean", "Active"),
        "uom_name": F("char", "Unit of Measure Name", readonly=True),
    },
    "sale.order": {
        "name": F("char", "Order Reference", readonly=True), "partner_id": F("many2one", "Customer", "res.partner",
                                                                                required=True),
        "date_order": F("datetime", "Order Date"), "state": F("selection", "Status", selection=SALE_STATES,
                                                              readonly=True),
        "invoice_status": F("selection", "Invoice Status", selection=(("upselling", "Upselling Opportunity"),
                                                                       ("invoiced", "Fully Invoiced"),
                                                                       ("to invoice", "To Invoice"),
                                                                       ("no", "Nothing to Invoice")), readonly=True),
        "order_line": F("one2many", "Order Lines", "sale.order.line", inverse="order_id"),
        "amount_untaxed": F("monetary", "Untaxed Amount", readonly=True),
        "amount_tax": F("monetary", "Taxes", readonly=True), "amount_total": F("monetary", "Total", readonly=True),
        "currency_id": F("many2one", "Currency", "res.currency"), "client_order_ref": F("char", "Customer Reference"),
        "origin": F("char", "Source Document"), "note": F("text", "Terms and conditions"),
        "locked": F("boolean", "Locked", readonly=True),
    },
    "sale.order.line": {
        "order_id": F("many2one", "Order Reference", "sale.order", required=True),
        "product_id": F("many2one", "Product", "product.product"), "name": F("text", "Description"),
        "product_uom_qty": F("float", "Quantity"), "price_unit": F("float", "Unit Price"),
        "discount": F("float", "Discount (%)"), "tax_percent": F("float", "Tax %"),
        "price_subtotal": F("monetary", "Subtotal", readonly=True), "price_total": F("monetary", "Total",
                                                                                    readonly=True),
        "qty_delivered": F("float", "Delivery Quantity"), "qty_invoiced": F("float", "Invoiced Quantity",
                                                                            readonly=True),
    },
    "account.move": {
        "name": F("char", "Number", readonly=True), "ref": F("char", "Reference"),
        "move_type": F("selection", "Type", selection=MOVE_TYPES, required=True),
        "state": F("selection", "Status", selection=MOVE_STATES, readonly=True),
        "payment_state": F("selection", "Payment Status", selection=PAYMENT_STATES, readonly=True),
        "partner_id": F("many2one", "Partner", "res.partner"), "invoice_date": F("date", "Invoice/Bill Date"),
        "invoice_date_due": F("date", "Due Date"), "invoice_origin": F("char", "Origin"),
        "payment_reference": F("char", "Payment Reference"),
        "invoice_line_ids": F("one2many", "Invoice lines", "account.move.line", inverse="move_id"),
        "amount_untaxed": F("monetary", "Untaxed Amount", readonly=True),
        "amount_tax": F("monetary", "Tax", readonly=True), "amount_total": F("monetary", "Total", readonly=True),
        "amount_residual": F("monetary", "Amount Due", readonly=True),
        "currency_id": F("many2one", "Currency", "res.currency"),
    },
    "account.move.line": {
        "move_id": F("many2one", "Journal Entry", "account.move", required=True),
        "product_id": F("many2one", "Product", "product.product"), "name": F("char", "Label"),
        "quantity": F("float", "Quantity"), "price_unit": F("float", "Unit Price"),
        "discount": F("float", "Discount (%)"), "tax_percent": F("float", "Tax %"),
        "price_subtotal": F("monetary", "Subtotal", readonly=True), "price_total": F("monetary", "Total",
                                                                                    readonly=True),
    },
    "ir.model": {"model": F("char", "Model", readonly=True), "name": F("char", "Model Description", readonly=True)},
}

_DEFAULTS: dict[str, dict[str, Any]] = {
    "res.partner": {"is_company": False, "company_type": "person", "type": "contact", "active": True,
                    "credit_limit": 0.0},
    "product.product": {"type": "consu", "is_storable": False, "active": True, "list_price": 1.0, "uom_name": "Units"},
    "sale.order": {"state": "draft", "invoice_status": "no", "locked": False},
    "sale.order.line": {"product_uom_qty": 1.0, "discount": 0.0, "tax_percent": 0.0, "qty_delivered": 0.0,
                        "qty_invoiced": 0.0},
    "account.move": {"state": "draft", "payment_state": "not_paid", "move_type": "entry"},
    "account.move.line": {"quantity": 1.0, "discount": 0.0, "tax_percent": 0.0},
    "res.currency": {"active": True, "rate": 1.0},
}


def fields_of(model: str) -> dict[str, F]:
    return {**_AUDIT, **MODELS[model]}


def _money(v: Decimal) -> float:
    return float(v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def inn_ok(digits: str) -> bool:
    """The FNS check digits of a Russian INN (10 digits: one, 12 digits: two)."""
    if not digits.isdigit() or len(digits) not in (10, 12):
        return False
    d = [int(c) for c in digits]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * x for w, x in zip(weights, d)) % 11 % 10

    if len(d) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[9]
    return check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[10] and check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[11]


@dataclass
class Database:
    name: str = "b24sync"
    in_payment_state: bool = False  # the accounting app's 'in_payment' override (§1.5)
    tables: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    move_seq: int = 0
    order_seq: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    clock: Any = None  # a callable returning a UTC datetime (tests move time); default: now

    def __post_init__(self) -> None:
        for m in MODELS:
            self.tables.setdefault(m, {})
        for m, desc in ((m, m.replace(".", " ").title()) for m in MODELS):
            self._insert("ir.model", {"model": m, "name": desc}, "2026-01-01 00:00:00", 1)
        self._insert("res.currency", {"name": "RUB", "rate": 1.0, "active": True}, "2026-01-01 00:00:00", 1)
        ru = self._insert("res.country", {"name": "Russian Federation", "code": "RU"}, "2026-01-01 00:00:00", 1)
        admin_partner = self._insert("res.partner", {"name": "Administrator", "country_id": ru, **_DEFAULTS["res.partner"]},
                                     "2026-01-01 00:00:00", 1)
        self._insert("res.users", {"name": "Administrator", "login": "admin", "partner_id": admin_partner},
                     "2026-01-01 00:00:00", 1)

    # ---- time ------------------------------------------------------------------------------------------------------
    def tx_time(self) -> str:
        """The start time of a transaction, as ``write_date`` stores it (seconds, UTC)."""
        now = self.clock() if self.clock else datetime.now(UTC)
        return now.strftime("%Y-%m-%d %H:%M:%S")

    # ---- low level -------------------------------------------------------------------------------------------------
    def _insert(self, model: str, vals: dict[str, Any], stamp: str, uid: int) -> int:
        rid = self.seq.get(model, 0) + 1
        self.seq[model] = rid
        self.tables[model][rid] = {"id": rid, "create_date": stamp, "write_date": stamp, "create_uid": uid,
                                   "write_uid": uid, **vals}
        return rid

    def table(self, model: str) -> dict[int, dict[str, Any]]:
        if model not in MODELS:
            raise NotFound(f"Model {model!r} does not exist")
        return self.tables[model]

    def row(self, model: str, rid: int) -> dict[str, Any]:
        row = self.table(model).get(int(rid))
        if row is None:
            raise MissingError(f"Record does not exist or has been deleted.\n(Record: {model}({rid},), User: 2)")
        return row

    def display_name(self, model: str, rid: int) -> str:
        row = self.table(model).get(rid) or {}
        if model == "res.partner" and row.get("parent_id") and not row.get("is_company"):
            parent = self.table(model).get(row["parent_id"]) or {}
            return f"{parent.get('name')}, {row.get('name')}"
        return str(row.get("name") or row.get("model") or f"{model},{rid}")

    # ---- values as a client sees them ------------------------------------------------------------------------------
    def value(self, model: str, row: dict[str, Any], fname: str, *, classic: bool = True) -> Any:
        f = fields_of(model).get(fname)
        if f is None:
            raise ValueError(f"Invalid field {fname!r} on model {model!r}")
        if fname == "display_name":
            return self.display_name(model, row["id"])
        if f.type == "one2many":
            return sorted(r["id"] for r in self.table(f.relation or "").values() if r.get(f.inverse or "") == row["id"])
        v = row.get(fname)
        if f.type == "many2one":
            if not v:
                return False
            return [v, self.display_name(f.relation or "", v)] if classic else v  # load=None: the bare id
        if f.type == "many2many":
            return list(v or [])
        if v is None or v == "":
            return False if f.type != "boolean" else False
        return v

    def read(self, model: str, ids: list[int], fields: list[str] | None, *, classic: bool = True) -> list[dict[str, Any]]:
        names = fields or [n for n, f in fields_of(model).items() if f.type not in ("one2many", "many2many")]
        unknown = [n for n in names if n not in fields_of(model)]
        if unknown:
            raise ValueError(f"Invalid field {unknown[0]!r} on model {model!r}")
        out = []
        for rid in ids:
            row = self.row(model, rid)
            out.append({"id": row["id"], **{n: self.value(model, row, n, classic=classic) for n in names if n != "id"}})
        return out

    # ---- writes ----------------------------------------------------------------------------------------------------
    def _check_vals(self, model: str, vals: dict[str, Any], *, create: bool) -> dict[str, Any]:
        if not isinstance(vals, dict):
            raise ArgumentError(f"{model}: values must be a dictionary, not {type(vals).__name__}")
        fields = fields_of(model)
        out: dict[str, Any] = {}
        for k, v in vals.items():
            f = fields.get(k)
            if f is None:
                raise ValueError(f"Invalid field {k!r} on model {model!r}")
            if f.readonly and not (model == "account.move" and k == "name" and create):
                continue  # Odoo ignores readonly fields in create/write from RPC (the UI would block them)
            if f.type == "many2one":
                if v in (False, None, 0):
                    v = False
                else:
                    if isinstance(v, list):
                        v = v[0]
                    self.row(f.relation or "", int(v))
                    v = int(v)
            elif f.type == "selection" and v not in (False, None) and v not in {s for s, _ in f.selection}:
                raise ValueError(f"Wrong value for {model}.{k}: {v!r}")
            elif f.type in ("float", "monetary") and v not in (False, None):
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"Wrong value for {model}.{k}: {v!r}") from None
            elif f.type == "integer" and v not in (False, None):
                v = int(v)
            out[k] = v
        if model == "res.partner":
            if "company_type" in out and "is_company" not in out:
                out["is_company"] = out["company_type"] == "company"
            elif "is_company" in out:
                out["company_type"] = "company" if out["is_company"] else "person"
            vat = out.get("vat")
            if vat:
                digits = str(vat).upper().removeprefix("RU")
                if digits.isdigit() and not inn_ok(digits):
                    raise ValidationError(f"The VAT number [{vat}] for partner [{vals.get('name', '')}] does not seem "
                                          "to be valid. \nNote: the expected format is 10 or 12 digits")
        return out

    def create(self, model: str, vals: dict[str, Any], uid: int, stamp: str) -> int:
        if model in ("ir.model", "res.users"):
            raise AccessError(f"You are not allowed to create '{model}' records.")
        x2m = {k: vals[k] for k, f in fields_of(model).items() if f.type == "one2many" and k in vals}
        clean = self._check_vals(model, {k: v for k, v in vals.items() if k not in x2m}, create=True)
        for k, f in fields_of(model).items():
            if f.required and not clean.get(k) and not (model in ("sale.order.line", "account.move.line")
                                                        and k in ("order_id", "move_id")):
                raise ValidationError(f"The field '{f.string}' is required on {model}.")
        if model == "res.partner" and not clean.get("name") and not clean.get("parent_id"):
            raise ValidationError("Contacts require a name")
        row_vals = {**_DEFAULTS.get(model, {}), **clean}
        if model == "sale.order":
            self.order_seq += 1
            row_vals["name"] = f"S{self.order_seq:05d}"
            row_vals.setdefault("date_order", stamp)
        if model == "account.move":
            row_vals["name"] = "/"
        if model == "res.partner" and not row_vals.get("country_id"):
            row_vals["country_id"] = 1
        rid = self._insert(model, row_vals, stamp, uid)
        if model == "res.partner":
            self.tables[model][rid]["commercial_partner_id"] = self._commercial(rid)
        for k, cmds in x2m.items():
            self._x2many(model, rid, k, cmds, uid, stamp)
        self._recompute(model, rid)
        return rid

    def _commercial(self, rid: int) -> int:
        row = self.tables["res.partner"][rid]
        seen: set[int] = set()
        while row.get("parent_id") and not row.get("is_company") and row["id"] not in seen:
            seen.add(row["id"])
            row = self.tables["res.partner"][row["parent_id"]]
        return int(row["id"])

    def _x2many(self, model: str, rid: int, fname: str, cmds: Any, uid: int, stamp: str) -> None:
        f = fields_of(model)[fname]
        rel, inv = f.relation or "", f.inverse or ""
        if not isinstance(cmds, list):
            raise ValueError(f"{model}.{fname}: expected a list of commands")
        for cmd in cmds:
            if not isinstance(cmd, (list, tuple)) or not cmd:
                raise ValueError(f"{model}.{fname}: a command is a list like [0, 0, {{...}}]")
            op = cmd[0]
            if op == 0:
                self.create(rel, {**cmd[2], inv: rid}, uid, stamp)
            elif op == 1:
                self.write(rel, [int(cmd[1])], cmd[2], uid, stamp)
            elif op in (2, 3):
                self.table(rel).pop(int(cmd[1]), None)
            elif op == 5:
                for lid in [r["id"] for r in self.table(rel).values() if r.get(inv) == rid]:
                    self.table(rel).pop(lid)
            elif op == 6:
                keep = {int(i) for i in cmd[2]}
                for r in list(self.table(rel).values()):
                    if r.get(inv) == rid and r["id"] not in keep:
                        self.table(rel).pop(r["id"])
            elif op == 4:
                self.row(rel, int(cmd[1]))[inv] = rid
            else:
                raise ValueError(f"{model}.{fname}: unknown command {op!r}")

    def write(self, model: str, ids: list[int], vals: dict[str, Any], uid: int, stamp: str) -> bool:
        if model in ("ir.model",):
            raise AccessError(f"You are not allowed to modify '{model}' records.")
        x2m = {k: vals[k] for k, f in fields_of(model).items() if f.type == "one2many" and k in vals}
        clean = self._check_vals(model, {k: v for k, v in vals.items() if k not in x2m}, create=False)
        for rid in ids:
            row = self.row(model, rid)
            if model == "account.move" and row.get("state") == "posted" and (clean.keys() - {"ref", "payment_reference",
                                                                                            "invoice_date_due"} or x2m):
                raise UserError("You cannot modify a posted entry of this journal. First you should set the "
                                "journal to allow cancelling entries.")
            if model in ("account.move.line",) and self.row("account.move", row["move_id"]).get("state") == "posted":
                raise UserError("You cannot modify a posted journal item.")
            if model == "sale.order" and row.get("state") == "cancel" and x2m:
                raise UserError("You cannot modify the lines of a cancelled order.")
            row.update(clean)
            row["write_date"], row["write_uid"] = stamp, uid  # bumped even when nothing changed (§1.6.5)
            for k, cmds in x2m.items():
                self._x2many(model, rid, k, cmds, uid, stamp)
            if model == "res.partner":
                row["commercial_partner_id"] = self._commercial(rid)
            self._recompute(model, rid)
        return True

    def unlink(self, model: str, ids: list[int]) -> bool:
        for rid in ids:
            row = self.row(model, rid)
            if model == "sale.order" and row.get("state") == "sale":
                raise UserError("You can not delete a sent quotation or a confirmed sales order. You must first "
                                "cancel it.")
            if model == "account.move" and row.get("state") == "posted":
                raise UserError("You cannot delete an entry which has been posted once.")
        for rid in ids:
            self.table(model).pop(rid, None)
        return True

    # ---- computed fields -------------------------------------------------------------------------------------------
    def _lines(self, model: str, rid: int) -> list[dict[str, Any]]:
        rel, inv = ("sale.order.line", "order_id") if model == "sale.order" else ("account.move.line", "move_id")
        return [r for r in self.tables[rel].values() if r.get(inv) == rid]

    def _recompute(self, model: str, rid: int) -> None:
        if model in ("sale.order.line", "account.move.line"):
            row = self.tables[model].get(rid)
            if row is None:
                return
            qty = Decimal(str(row.get("product_uom_qty", row.get("quantity", 0)) or 0))
            price = Decimal(str(row.get("price_unit") or 0))
            disc = Decimal(str(row.get("discount") or 0))
            sub = qty * price * (1 - disc / 100)
            tax = sub * Decimal(str(row.get("tax_percent") or 0)) / 100
            row["price_subtotal"], row["price_total"] = _money(sub), _money(sub + tax)
            if not row.get("name") and row.get("product_id"):
                row["name"] = self.tables["product.product"].get(row["product_id"], {}).get("name")
            parent = "sale.order" if model == "sale.order.line" else "account.move"
            pid = row.get("order_id") or row.get("move_id")
            if pid:
                self._recompute(parent, pid)  # the parent's totals — but never its write_date (§1.6.3)
            return
        if model in ("sale.order", "account.move"):
            row = self.tables[model][rid]
            lines = self._lines(model, rid)
            untaxed = sum((Decimal(str(r.get("price_subtotal") or 0)) for r in lines), Decimal(0))
            total = sum((Decimal(str(r.get("price_total") or 0)) for r in lines), Decimal(0))
            row["amount_untaxed"], row["amount_tax"], row["amount_total"] = (_money(untaxed), _money(total - untaxed),
                                                                            _money(total))
            if model == "sale.order":
                row["invoice_status"] = "to invoice" if row.get("state") == "sale" else "no"
            else:
                paid = Decimal(str(row.get("_paid", 0)))
                residual = total - paid
                row["amount_residual"] = _money(residual if row.get("state") == "posted" else total)
                if row.get("state") != "posted" or total == 0:
                    row["payment_state"] = "not_paid"
                elif residual <= 0:
                    row["payment_state"] = "in_payment" if self.in_payment_state and not row.get("_reconciled") \
                        else "paid"
                elif paid > 0:
                    row["payment_state"] = "partial"
                else:
                    row["payment_state"] = "not_paid"

    # ---- business methods ------------------------------------------------------------------------------------------
    def call_method(self, model: str, method: str, ids: list[int], uid: int, stamp: str) -> Any:
        if model == "sale.order" and method == "action_confirm":
            for rid in ids:
                row = self.row(model, rid)
                if row["state"] not in ("draft", "sent"):
                    raise UserError(f"Some orders are not in a state requiring confirmation.")
                if not self._lines(model, rid):
                    raise UserError("There are no order lines to confirm.")
                row.update(state="sale", write_date=stamp, write_uid=uid)
                self._recompute(model, rid)
            return True
        if model == "sale.order" and method == "action_cancel":
            for rid in ids:
                self.row(model, rid).update(state="cancel", write_date=stamp, write_uid=uid)
            return True
        if model == "sale.order" and method == "action_draft":
            for rid in ids:
                row = self.row(model, rid)
                if row["state"] != "cancel":
                    raise UserError("Only cancelled orders can be set back to quotation.")
                row.update(state="draft", write_date=stamp, write_uid=uid)
            return True
        if model == "account.move" and method == "action_post":
            for rid in ids:
                row = self.row(model, rid)
                if row["state"] == "posted":
                    raise UserError("The entry is already posted.")
                if row["move_type"] != "entry" and not self._lines(model, rid):
                    raise UserError("You need to add a line before posting.")
                if row["move_type"] in ("out_invoice", "out_refund") and not row.get("partner_id"):
                    raise UserError("The field 'Customer' is required, please complete it to validate the Customer "
                                    "Invoice.")
                if row["name"] in ("/", False, None):
                    self.move_seq += 1
                    prefix = "RINV" if row["move_type"] == "out_refund" else "INV"
                    row["name"] = f"{prefix}/{stamp[:4]}/{self.move_seq:05d}"
                row.update(state="posted", write_date=stamp, write_uid=uid)
                if not row.get("invoice_date"):
                    row["invoice_date"] = stamp[:10]
                self._recompute(model, rid)
            return True
        if model == "account.move" and method == "button_draft":
            for rid in ids:
                row = self.row(model, rid)
                if row.get("_paid"):
                    raise UserError("You cannot reset to draft a paid entry; unreconcile its payments first.")
                row.update(state="draft", write_date=stamp, write_uid=uid)
                self._recompute(model, rid)
            return True
        if model == "res.users" and method == "context_get":
            return {"lang": "ru_RU", "tz": "Europe/Moscow", "uid": uid}
        raise AttributeError(f"The method '{method}' does not exist on the model '{model}'")

    def register_payment(self, move_id: int, amount: float | None, stamp: str) -> dict[str, Any]:
        """What a bank reconciliation does to an invoice (the sandbox's control route)."""
        row = self.row("account.move", move_id)
        if row["state"] != "posted":
            raise UserError("You can only register payment for posted journal entries.")
        residual = Decimal(str(row["amount_residual"]))
        pay = residual if amount is None else Decimal(str(amount))
        if pay <= 0 or pay > residual:
            raise UserError("The payment amount must be positive and not above the amount due.")
        row["_paid"] = float(Decimal(str(row.get("_paid", 0))) + pay)
        row["write_date"] = stamp
        self._recompute("account.move", move_id)
        return {"payment_state": row["payment_state"], "amount_residual": row["amount_residual"]}
