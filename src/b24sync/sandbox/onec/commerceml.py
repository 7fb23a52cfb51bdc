"""The 1C side of the CommerceML 2.x site exchange (erp-side.md §3.4, §12.2): a small generator of
import.xml / offers.xml from the sandbox catalogue and a client that drives a site's exchange script.

Written independently of b24sync's CommerceML reader (src/b24sync/connectors/commerceml) on purpose.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import httpx
from defusedxml import ElementTree as SafeET

from b24sync.sandbox.onec.store import Store

NS = "urn:1C.ru:commerceml_2"  # §3.1


def _e(tag: str, text: object = "", **attrs: object) -> str:
    a = "".join(f' {k}="{escape(str(v), {chr(34): "&quot;"})}"' for k, v in attrs.items())
    return f"<{tag}{a}>{escape(str(text))}</{tag}>"


def generate_catalog(store: Store, *, version: str = "2.08", bom: bool = True) -> dict[str, bytes]:
    """import.xml (Классификатор + Каталог) and offers.xml (ПакетПредложений) — §3.2, §3.3."""
    now = dt.datetime.now().replace(microsecond=0).isoformat()
    with store.lock:
        products = [p for p in store.objects["Catalog_Номенклатура"].values() if not p.get("IsFolder")]
        groups = [p for p in store.objects["Catalog_Номенклатура"].values() if p.get("IsFolder")]
        units = store.objects["Catalog_УпаковкиЕдиницыИзмерения"]
        okei = store.objects["Catalog_КлассификаторЕдиницИзмерения"]
        price_types = list(store.objects["Catalog_ВидыЦен"].values())
        warehouses = list(store.objects["Catalog_Склады"].values())
        prices = store.slice_last("InformationRegister_ЦеныНоменклатуры", None, None)
        stock = store.balance("AccumulationRegister_ТоварыНаСкладах", None, None, None)
    catalog_id = "c0ffee00-0000-4000-8000-000000000001"

    def unit_xml(p: dict) -> str:
        u = units.get(p["ЕдиницаИзмерения_Key"])
        k = okei.get(u["ЕдиницаПоКлассификатору_Key"]) if u else None
        code = k["Code"] if k else "796"
        return _e("БазоваяЕдиница", u["Description"] if u else "шт", Код=code,
                  НаименованиеПолное=u["НаименованиеПолное"] if u else "Штука",
                  МеждународноеСокращение=u["МеждународноеСокращение"] if u else "PCE")

    rate = {"НДС22": "22", "НДС20": "20", "НДС10": "10", "НДС0": "0"}
    goods = []
    for p in products:
        goods.append("<Товар>" + _e("Ид", p["Ref_Key"]) + _e("Артикул", p["Артикул"]) + _e("Наименование", p["Description"])
                     + unit_xml(p) + (f"<Группы>{_e('Ид', p['Parent_Key'])}</Группы>" if p["Parent_Key"] in
                                      {g['Ref_Key'] for g in groups} else "")
                     + _e("Описание", p.get("Описание", ""))
                     + "<СтавкиНалогов><СтавкаНалога>" + _e("Наименование", "НДС")
                     + _e("Ставка", rate.get(p["СтавкаНДС"], "без НДС")) + "</СтавкаНалога></СтавкиНалогов>"
                     + "<ЗначенияРеквизитов>" + "".join(
                         f"<ЗначениеРеквизита>{_e('Наименование', n)}{_e('Значение', v)}</ЗначениеРеквизита>"
                         for n, v in (("ВидНоменклатуры", "Товар"), ("ТипНоменклатуры", p["ТипНоменклатуры"]),
                                      ("Код", p.get("Code", "")))) + "</ЗначенияРеквизитов></Товар>")
    head = f'<?xml version="1.0" encoding="UTF-8"?><КоммерческаяИнформация xmlns="{NS}" ВерсияСхемы="{version}" ДатаФормирования="{now}">'
    groups_xml = "".join(f"<Группа>{_e('Ид', g['Ref_Key'])}{_e('Наименование', g['Description'])}</Группа>" for g in groups)
    import_xml = (head + "<Классификатор>" + _e("Ид", catalog_id) + _e("Наименование", "Классификатор (Основной каталог товаров)")
                  + f"<Группы>{groups_xml}</Группы></Классификатор>"
                  + '<Каталог СодержитТолькоИзменения="false">' + _e("Ид", catalog_id) + _e("ИдКлассификатора", catalog_id)
                  + _e("Наименование", "Основной каталог товаров") + f"<Товары>{''.join(goods)}</Товары></Каталог>"
                  + "</КоммерческаяИнформация>")
    pt_xml = "".join("<ТипЦены>" + _e("Ид", t["Ref_Key"]) + _e("Наименование", t["Description"]) + _e("Валюта", "RUB")
                     + "<Налог>" + _e("Наименование", "НДС") + _e("УчтеноВСумме", "true" if t["ЦенаВключаетНДС"] else "false")
                     + "</Налог></ТипЦены>" for t in price_types)
    wh_xml = "".join("<Склад>" + _e("Ид", w["Ref_Key"]) + _e("Наименование", w["Description"]) + "</Склад>" for w in warehouses)
    offers = []
    for p in products:
        if p["ТипНоменклатуры"] != "Товар":
            continue
        pr = [r for r in prices if r["Номенклатура_Key"] == p["Ref_Key"]]
        st = [r for r in stock if r["Номенклатура_Key"] == p["Ref_Key"]]
        u = units.get(p["ЕдиницаИзмерения_Key"])
        offers.append("<Предложение>" + _e("Ид", p["Ref_Key"]) + _e("Артикул", p["Артикул"]) + _e("Наименование", p["Description"])
                      + unit_xml(p) + "<Цены>" + "".join(
                          "<Цена>" + _e("Представление", f"{r['Цена']} RUB за {u['Description'] if u else 'шт'}")
                          + _e("ИдТипаЦены", r["ВидЦены_Key"]) + _e("ЦенаЗаЕдиницу", f"{r['Цена']:.2f}") + _e("Валюта", "RUB")
                          + _e("Единица", u["Description"] if u else "шт") + _e("Коэффициент", "1") + "</Цена>" for r in pr)
                      + "</Цены>" + _e("Количество", _fmt(sum(r["ВНаличииBalance"] for r in st)))
                      + "".join(f'<Склад ИдСклада="{r["Склад_Key"]}" КоличествоНаСкладе="{_fmt(r["ВНаличииBalance"])}"/>'
                                for r in st) + "</Предложение>")
    offers_xml = (head + '<ПакетПредложений СодержитТолькоИзменения="false">' + _e("Ид", catalog_id + "#")
                  + _e("Наименование", "Пакет предложений (Основной каталог товаров)") + _e("ИдКаталога", catalog_id)
                  + _e("ИдКлассификатора", catalog_id) + f"<ТипыЦен>{pt_xml}</ТипыЦен><Склады>{wh_xml}</Склады>"
                  + f"<Предложения>{''.join(offers)}</Предложения></ПакетПредложений></КоммерческаяИнформация>")
    prefix = b"\xef\xbb\xbf" if bom else b""  # §3.1: 1C writes UTF-8, often with BOM
    return {"import.xml": prefix + import_xml.encode("utf-8"), "offers.xml": prefix + offers_xml.encode("utf-8")}


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


class ExchangeError(RuntimeError):
    pass


@dataclass
class ExchangeReport:
    auth_lines: list[str] = field(default_factory=list)
    zip: bool = False
    file_limit: int = 0
    uploads: list[tuple[str, int]] = field(default_factory=list)  # (filename, chunk size)
    import_calls: dict[str, int] = field(default_factory=dict)
    orders_xml: bytes = b""


class SiteExchangeClient:
    """Plays 1C against a site's exchange URL (§3.4 steps 1–6)."""

    def __init__(self, site_url: str, user: str, password: str, *, timeout: float = 30.0, max_progress: int = 50):
        self.site_url = site_url
        self.client = httpx.Client(timeout=timeout, auth=(user, password))
        self.max_progress = max_progress
        self.cookie: tuple[str, str] | None = None
        self.sessid: str | None = None

    def close(self) -> None:
        self.client.close()

    def _get(self, params: dict, report: ExchangeReport | None = None) -> httpx.Response:
        return self.client.get(self.site_url, params=self._params(params), headers=self._cookie())

    def _params(self, params: dict) -> dict:
        if self.sessid:
            k, _, v = self.sessid.partition("=")
            params = {**params, k: v}
        return params

    def _cookie(self) -> dict:
        return {"Cookie": f"{self.cookie[0]}={self.cookie[1]}"} if self.cookie else {}

    @staticmethod
    def _lines(resp: httpx.Response) -> list[str]:
        return resp.content.decode("utf-8-sig", errors="replace").replace("\r", "").split("\n")

    def checkauth(self, type_: str, report: ExchangeReport) -> None:
        resp = self.client.get(self.site_url, params={"type": type_, "mode": "checkauth"})
        lines = self._lines(resp)
        report.auth_lines = lines
        if resp.status_code != 200 or lines[0].strip() != "success" or len(lines) < 3:
            raise ExchangeError(f"checkauth: {resp.status_code} {' / '.join(lines[:2])}")
        self.cookie = (lines[1].strip(), lines[2].strip())
        # newer Bitrix: line 4 = sessid=… (CSRF), sent back as a query parameter (§3.4)
        self.sessid = lines[3].strip() if len(lines) > 3 and lines[3].startswith("sessid=") else None

    def init(self, type_: str, report: ExchangeReport, version: str = "2.08") -> None:
        resp = self._get({"type": type_, "mode": "init", "version": version})
        values = dict(line.split("=", 1) for line in self._lines(resp) if "=" in line)
        if resp.status_code != 200 or "file_limit" not in values:
            raise ExchangeError(f"init: {resp.status_code} {resp.text[:200]}")
        report.zip = values.get("zip", "no").strip() == "yes"
        report.file_limit = int(values["file_limit"].strip() or 0)

    def upload(self, filename: str, data: bytes, report: ExchangeReport, type_: str = "catalog") -> None:
        limit = report.file_limit if report.file_limit > 0 else len(data) or 1
        for start in range(0, max(len(data), 1), limit):  # §3.4: chunks of file_limit, same filename, appended
            chunk = data[start:start + limit]
            resp = self.client.post(self.site_url, params=self._params({"type": type_, "mode": "file", "filename": filename}),
                                    content=chunk, headers=self._cookie())
            first = self._lines(resp)[0].strip()
            if resp.status_code != 200 or first != "success":
                raise ExchangeError(f"file {filename}: {resp.status_code} {resp.text[:200]}")
            report.uploads.append((filename, len(chunk)))

    def run_import(self, filename: str, report: ExchangeReport) -> None:
        for n in range(1, self.max_progress + 1):  # §3.4: repeat while "progress", until "success"
            resp = self._get({"type": "catalog", "mode": "import", "filename": filename})
            lines = self._lines(resp)
            status = lines[0].strip()
            report.import_calls[filename] = n
            if status == "success":
                return
            if status == "progress":
                continue
            if status == "failure":
                raise ExchangeError(f"import {filename}: failure: {' '.join(lines[1:]).strip()}")
            # what 1C reports for a non-protocol answer (§3.4, opencart3-exchange1c #44)
            raise ExchangeError(f"import {filename}: Получен неизвестный статус импорта: {status[:100]}")
        raise ExchangeError(f"import {filename}: still in progress after {self.max_progress} calls")

    def exchange_catalog(self, files: dict[str, bytes]) -> ExchangeReport:
        report = ExchangeReport()
        self.checkauth("catalog", report)
        self.init("catalog", report)
        if report.zip:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in files.items():
                    zf.writestr(name, data)
            self.upload("v8_exchange.zip", buf.getvalue(), report)
        else:
            for name, data in files.items():
                self.upload(name, data, report)
        for name in files:
            if name.endswith(".xml"):
                self.run_import(name, report)
        return report

    def pull_orders(self, *, confirm: bool = True) -> ExchangeReport:
        report = ExchangeReport()
        self.checkauth("sale", report)
        self.init("sale", report)
        resp = self._get({"type": "sale", "mode": "query"})
        if resp.status_code != 200:
            raise ExchangeError(f"sale query: {resp.status_code}")
        report.orders_xml = resp.content
        if confirm:
            ok = self._get({"type": "sale", "mode": "success"})
            if self._lines(ok)[0].strip() != "success":
                raise ExchangeError(f"sale success: {ok.text[:200]}")
        return report


def parse_orders(xml: bytes) -> list[dict]:
    """Minimal reading of a site's orders answer (namespace present or absent, §3.1)."""
    text = xml.decode("utf-8-sig") if not xml.lstrip().startswith(b"<?xml version=\"1.0\" encoding=\"windows-1251\"") \
        else xml.decode("cp1251")
    body = text[text.index("?>") + 2:] if text.startswith("<?xml") else text
    root = SafeET.fromstring(body)

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def child(el, name):
        return next((c for c in el if local(c.tag) == name), None)

    def text_of(el, name):
        c = child(el, name)
        return (c.text or "").strip() if c is not None else ""

    orders = []
    for doc in root.iter():
        if local(doc.tag) != "Документ":
            continue
        order = {"id": text_of(doc, "Ид"), "number": text_of(doc, "Номер"), "date": text_of(doc, "Дата"),
                 "sum": text_of(doc, "Сумма"), "counterparty": {}, "items": []}
        cps = child(doc, "Контрагенты")
        if cps is not None and len(cps):
            cp = cps[0]
            order["counterparty"] = {"name": text_of(cp, "Наименование"), "inn": text_of(cp, "ИНН"),
                                     "kpp": text_of(cp, "КПП")}
        goods = child(doc, "Товары")
        for g in (goods if goods is not None else []):
            order["items"].append({"id": text_of(g, "Ид"), "sku": text_of(g, "Артикул"), "name": text_of(g, "Наименование"),
                                   "price": text_of(g, "ЦенаЗаЕдиницу"), "qty": text_of(g, "Количество"),
                                   "sum": text_of(g, "Сумма")})
        orders.append(order)
    return orders
