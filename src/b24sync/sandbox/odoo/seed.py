"""Sample data for demos and rehearsals: companies with INNs and their contacts, products, quotations and orders,
posted invoices — some paid in part or in full."""

from __future__ import annotations

import random

from b24sync.sandbox.odoo.db import Database

_NAMES = ["Вектор", "Гранит", "Альянс", "Ресурс", "Монолит", "Импульс", "Континент", "Стандарт", "Логистик", "Снаб"]


def _inn10(rng: random.Random) -> str:
    d = [rng.randrange(10) for _ in range(9)]
    w = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return "".join(map(str, d)) + str(sum(a * b for a, b in zip(w, d)) % 11 % 10)


def seed(db: Database, *, companies: int = 8, products: int = 6, seed_value: int = 11) -> None:
    rng = random.Random(seed_value)
    stamp = db.tx_time()
    with db.lock:
        prods = [db.create("product.product", {"name": f"Товар {i + 1}", "default_code": f"ART-{i + 1:04d}",
                                               "list_price": float(100 + 25 * i), "is_storable": True}, 2, stamp)
                 for i in range(products)]
        for i in range(companies):
            cid = db.create("res.partner", {"name": f"ООО «{_NAMES[i % len(_NAMES)]} {i + 1}»", "is_company": True,
                                            "vat": _inn10(rng), "email": f"office{i + 1}@example.ru",
                                            "phone": f"+7 495 {rng.randrange(100, 999)}-{rng.randrange(10, 99)}-"
                                                     f"{rng.randrange(10, 99)}", "city": "Москва",
                                            "credit_limit": float(100_000 * (i % 3))}, 2, stamp)
            db.create("res.partner", {"name": f"Иван Петров {i + 1}", "parent_id": cid,
                                      "email": f"buyer{i + 1}@example.ru"}, 2, stamp)
            lines = [(0, 0, {"product_id": prods[(i + k) % products], "product_uom_qty": float(k + 1),
                             "price_unit": float(100 + 25 * ((i + k) % products)), "tax_percent": 22.0})
                     for k in range(2)]
            so = db.create("sale.order", {"partner_id": cid, "order_line": lines}, 2, stamp)
            if i % 2 == 0:
                db.call_method("sale.order", "action_confirm", [so], 2, stamp)
                inv = db.create("account.move", {"move_type": "out_invoice", "partner_id": cid,
                                                 "invoice_origin": db.tables["sale.order"][so]["name"],
                                                 "invoice_line_ids": [(0, 0, {k.replace("product_uom_qty", "quantity"): v
                                                                              for k, v in ln[2].items()})
                                                                      for ln in lines]}, 2, stamp)
                db.call_method("account.move", "action_post", [inv], 2, stamp)
                if i % 4 == 0:
                    db.register_payment(inv, None, stamp)
                else:
                    db.register_payment(inv, 50.0, stamp)
