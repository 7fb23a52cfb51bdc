"""Synthetic CommerceML files for scale tests and the benchmark (written streaming, never held in memory).

The shape copies the real offers file (sample 02, §3.3): ``ПакетПредложений`` with ``ТипыЦен``, ``Склады`` and
``Предложения/Предложение{Ид (product#characteristic), Артикул, Наименование, БазоваяЕдиница, Цены/Цена…,
Количество, Склад ИдСклада КоличествоНаСкладе}``.
"""

from __future__ import annotations

import os
import uuid
from typing import BinaryIO

NS2 = "urn:1C.ru:commerceml_2"


def _guid(kind: int, i: int) -> str:
    return str(uuid.UUID(int=(kind << 96) | i))


def write_offers(out: BinaryIO, n_offers: int, *, prices: int = 3, warehouses: int = 4,
                 encoding: str = "UTF-8", namespace: str | None = NS2, bom: bool = True) -> None:
    enc = "cp1251" if "1251" in encoding else "utf-8"
    if bom and enc == "utf-8":
        out.write(b"\xef\xbb\xbf")
    ns = f' xmlns="{namespace}"' if namespace else ""
    w = out.write

    def s(text: str) -> None:
        w(text.encode(enc))

    s(f'<?xml version="1.0" encoding="{encoding}"?>\n'
      f'<КоммерческаяИнформация{ns} ВерсияСхемы="2.08" ДатаФормирования="2026-01-15T10:00:00">\n'
      f'\t<ПакетПредложений СодержитТолькоИзменения="false">\n\t\t<Ид>{_guid(9, 1)}#</Ид>\n'
      '\t\t<Наименование>Пакет предложений (синтетический)</Наименование>\n'
      f'\t\t<ИдКаталога>{_guid(9, 1)}</ИдКаталога>\n\t\t<ТипыЦен>\n')
    for p in range(prices):
        s(f'\t\t\t<ТипЦены><Ид>{_guid(1, p)}</Ид><Наименование>Цена {p}</Наименование><Валюта>RUB</Валюта>'
          '<Налог><Наименование>НДС</Наименование><УчтеноВСумме>true</УчтеноВСумме></Налог></ТипЦены>\n')
    s("\t\t</ТипыЦен>\n\t\t<Склады>\n")
    for k in range(warehouses):
        s(f"\t\t\t<Склад><Ид>{_guid(2, k)}</Ид><Наименование>Склад №{k}</Наименование></Склад>\n")
    s("\t\t</Склады>\n\t\t<Предложения>\n")
    price_ids = [_guid(1, p) for p in range(prices)]
    wh_ids = [_guid(2, k) for k in range(warehouses)]
    batch: list[str] = []
    for i in range(n_offers):
        parts = [f"\t\t\t<Предложение>\n\t\t\t\t<Ид>{_guid(3, i)}#{_guid(4, i)}</Ид>\n"
                 f"\t\t\t\t<Артикул>АРТ-{i:08d}</Артикул>\n"
                 f"\t\t\t\t<Наименование>Товар синтетический №{i} (размер {i % 50})</Наименование>\n"
                 '\t\t\t\t<БазоваяЕдиница Код="796" НаименованиеПолное="Штука" '
                 'МеждународноеСокращение="PCE">шт</БазоваяЕдиница>\n\t\t\t\t<Цены>\n']
        for p, pid in enumerate(price_ids):
            value = 100 + (i % 997) + p * 10
            parts.append(f"\t\t\t\t\t<Цена><Представление>{value} RUB за шт</Представление>"
                         f"<ИдТипаЦены>{pid}</ИдТипаЦены><ЦенаЗаЕдиницу>{value}.50</ЦенаЗаЕдиницу>"
                         "<Валюта>RUB</Валюта><Единица>шт</Единица><Коэффициент>1</Коэффициент></Цена>\n")
        parts.append(f"\t\t\t\t</Цены>\n\t\t\t\t<Количество>{i % 100}</Количество>\n")
        for k, wid in enumerate(wh_ids):
            parts.append(f'\t\t\t\t<Склад ИдСклада="{wid}" КоличествоНаСкладе="{(i + k) % 25}"/>\n')
        parts.append("\t\t\t</Предложение>\n")
        batch.append("".join(parts))
        if len(batch) >= 1000:
            s("".join(batch))
            batch.clear()
    if batch:
        s("".join(batch))
    s("\t\t</Предложения>\n\t</ПакетПредложений>\n</КоммерческаяИнформация>\n")


def write_offers_file(path: str | os.PathLike, n_offers: int, **kwargs) -> int:
    with open(path, "wb") as fh:
        write_offers(fh, n_offers, **kwargs)
    return os.path.getsize(path)
