"""The message catalogue: every text a manager or finance reads (timeline comments, notifications, hold reasons,
requisite check messages, the rendered spec document), in Russian by default and in English when the spec says
``locale: en``. Logs and the CLI stay English.

One place for all of them, so a translation is reviewed as a whole and no module grows its own strings:
``t("rq.typo_digit", field="ИНН", raw=..., expected="3")``. Every key has both languages with the same placeholders
(tests/test_messages.py checks it).

The locale is process-wide (one spec per process: ``set_locale`` when the runtime is built); ``use_locale`` overrides
it for a block (tests, a rendering for another reader)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Literal

Locale = Literal["ru", "en"]
LOCALES: tuple[Locale, ...] = ("ru", "en")
DEFAULT_LOCALE: Locale = "ru"

_process: list[Locale] = [DEFAULT_LOCALE]
_override: contextvars.ContextVar[Locale | None] = contextvars.ContextVar("b24sync_locale", default=None)


def set_locale(locale: str | None) -> None:
    """The locale of this process (from the spec's ``locale:``); unknown values fall back to Russian."""
    _process[0] = locale if locale in LOCALES else DEFAULT_LOCALE  # type: ignore[assignment]


def current_locale() -> Locale:
    return _override.get() or _process[0]


@contextlib.contextmanager
def use_locale(locale: str) -> Iterator[None]:
    token = _override.set(locale if locale in LOCALES else DEFAULT_LOCALE)  # type: ignore[arg-type]
    try:
        yield
    finally:
        _override.reset(token)


def t(key: str, /, **kw: object) -> str:
    """The text of ``key`` in the current locale, with ``kw`` filled in."""
    entry = CATALOGUE[key]
    return entry[current_locale()].format(**kw)


def word(key: str, default: str | None = None) -> str:
    """A single term (a field's name for a manager); ``default`` (else the key) when the catalogue has none."""
    entry = CATALOGUE.get(key)
    if entry is None:
        return default if default is not None else key
    return entry[current_locale()]


def label(name: str) -> str:
    """A requisite's name as the checks say it: ``INN`` → ``ИНН`` in Russian; an unknown label (a spec's own) as is."""
    return word(f"label.{name}", name)


def either(*options: str) -> str:
    """``10 or 12`` / ``10 или 12``."""
    return f" {t('word.or')} ".join(options)


CATALOGUE: dict[str, dict[Locale, str]] = {
    "word.or": {"ru": "или", "en": "or"},
    "word.record": {"ru": "Запись", "en": "record"},
    "word.the_erp": {"ru": "учётную систему", "en": "the ERP"},
    # ---------------------------------------------------------------- requisite names (b24sync.requisites)
    "label.INN": {"ru": "ИНН", "en": "INN"},
    "label.KPP": {"ru": "КПП", "en": "KPP"},
    "label.OGRN": {"ru": "ОГРН", "en": "OGRN"},
    "label.OGRNIP": {"ru": "ОГРНИП", "en": "OGRNIP"},
    "label.BIC": {"ru": "БИК", "en": "BIC"},
    "label.Account": {"ru": "Расчётный счёт", "en": "Account"},
    "label.Correspondent account": {"ru": "Корреспондентский счёт", "en": "Correspondent account"},
    "label.Phone": {"ru": "Телефон", "en": "Phone"},
    "label.E-mail": {"ru": "E-mail", "en": "E-mail"},
    # ---------------------------------------------------------------- requisite checks
    "rq.empty_digits": {"ru": "{field}: не заполнено — нужно {lens} цифр",
                        "en": "{field} is empty — it must have {lens} digits"},
    "rq.not_digits": {"ru": "{field} {raw}: допустимы только цифры, а найдено {shown}",
                      "en": "{field} {raw}: must contain digits only, found {shown}"},
    "rq.wrong_length": {"ru": "{field} {raw}: должно быть {lens} цифр, а здесь {n}{hint}",
                        "en": "{field} {raw}: must be {lens} digits, got {n}{hint}"},
    "rq.lost_zero": {"ru": " (ведущий ноль потерялся в таблице?)", "en": " (a leading zero lost in a spreadsheet?)"},
    "rq.all_zeros": {"ru": "{field} {raw}: из одних нулей — такого номера не бывает",
                     "en": "{field} {raw}: all zeros is not a real {field}"},
    "rq.typo_digit": {"ru": "{field} {raw}: контрольная цифра должна быть {expected} — похоже на опечатку",
                      "en": "{field} {raw}: check digit should be {expected} — looks like a typo"},
    "rq.typo_digits": {"ru": "{field} {raw}: контрольные цифры (две последние) должны быть {expected} — похоже на "
                             "опечатку",
                       "en": "{field} {raw}: check digits (last two) should be {expected} — looks like a typo"},
    "rq.inn12_is_person": {"ru": " (12 цифр — это ИНН физического лица или ИП)",
                           "en": " (12 digits is the INN of a person or sole trader)"},
    "rq.inn10_is_company": {"ru": " (10 цифр — это ИНН организации)", "en": " (10 digits is the INN of a company)"},
    "rq.ogrn15_is_ogrnip": {"ru": " (15 цифр — это ОГРНИП индивидуального предпринимателя)",
                            "en": " (15 digits is an OGRNIP of a sole trader)"},
    "rq.ogrn_starts_0": {"ru": "{field} {raw}: не может начинаться с 0", "en": "{field} {raw}: cannot start with 0"},
    "rq.ogrnip13_is_ogrn": {"ru": " (13 цифр — это ОГРН организации)", "en": " (13 digits is the OGRN of a company)"},
    "rq.ogrnip_starts_3": {"ru": "{field} {raw}: должен начинаться с 3, а начинается с {first}",
                           "en": "{field} {raw}: must start with 3, got {first}"},
    "rq.kpp_empty": {"ru": "{field}: не заполнен — в нём 9 знаков", "en": "{field} is empty — it must have 9 characters"},
    "rq.kpp_length": {"ru": "{field} {raw}: должно быть 9 знаков, а здесь {n}",
                      "en": "{field} {raw}: must be 9 characters, got {n}"},
    "rq.kpp_zeros": {"ru": "{field} {raw}: из одних нулей — такого КПП не бывает",
                     "en": "{field} {raw}: all zeros is not a real KPP"},
    "rq.kpp_office": {"ru": "{field} {raw}: первые 4 знака (код налоговой инспекции) — только цифры",
                      "en": "{field} {raw}: the first 4 characters (tax office code) must be digits"},
    "rq.kpp_tail": {"ru": "{field} {raw}: последние 3 знака — только цифры",
                    "en": "{field} {raw}: the last 3 characters must be digits"},
    "rq.kpp_cyrillic": {"ru": " (найдена кириллическая «{char}» — наберите латинскую букву)",
                        "en": " (found Cyrillic '{char}' — type the Latin letter instead)"},
    "rq.kpp_middle": {"ru": "{field} {raw}: 5-й и 6-й знаки — цифры или заглавные латинские буквы{hint}",
                      "en": "{field} {raw}: characters 5–6 must be digits or capital Latin letters{hint}"},
    "rq.account_unchecked": {"ru": "{field} {raw} нельзя проверить: {why}",
                             "en": "{field} {raw} cannot be checked: {why}"},
    "rq.account_treasury": {"ru": "{field} {raw}: казначейский счёт, контрольный ключ к нему не применяется",
                            "en": "{field} {raw}: treasury account, the control key does not apply"},
    "rq.account_key": {"ru": "{field} {raw} не сходится с БИК {bic}: контрольная (9-я) цифра должна быть {expected} — "
                             "проверьте номер счёта и БИК, возможна опечатка",
                       "en": "{field} {raw} does not match BIC {bic}: the control digit (9th) should be {expected} — "
                             "check both the account number and the BIC for a typo"},
    "rq.phone_empty": {"ru": "Телефон не заполнен", "en": "Phone is empty"},
    "rq.phone_unparsable": {"ru": "Телефон «{raw}»: это не номер телефона — наберите цифрами, например +7 495 123-45-67",
                            "en": "Phone '{raw}': not a phone number — use digits, e.g. +7 495 123-45-67"},
    "rq.phone_invalid": {"ru": "Телефон «{raw}»: такого номера не бывает{hint}",
                         "en": "Phone '{raw}': not a valid phone number{hint}"},
    "rq.phone_ru_digits": {"ru": " — в российском номере 10 цифр после +7, а здесь {n}",
                           "en": " — a Russian number has 10 digits after +7, got {n}"},
    "rq.email_empty": {"ru": "E-mail не заполнен", "en": "E-mail is empty"},
    "rq.email_one_at": {"ru": "E-mail «{raw}»: в адресе должен быть ровно один знак @",
                        "en": "E-mail '{raw}': must contain exactly one @"},
    "rq.email_spaces": {"ru": "E-mail «{raw}»: в адресе не должно быть пробелов",
                        "en": "E-mail '{raw}': must not contain spaces"},
    "rq.email_local": {"ru": "E-mail «{raw}»: ошибка в части до @", "en": "E-mail '{raw}': the part before @ is not valid"},
    "rq.email_domain": {"ru": "E-mail «{raw}»: ошибка в домене после @",
                        "en": "E-mail '{raw}': the domain after @ is not valid"},
    "rq.email_domain_example": {"ru": "E-mail «{raw}»: ошибка в домене после @ (пример: name@company.ru)",
                                "en": "E-mail '{raw}': the domain after @ is not valid (e.g. name@company.ru)"},
    "rq.email_too_long": {"ru": "E-mail «{raw}»: слишком длинный адрес", "en": "E-mail '{raw}': too long"},
    # initial-load rejections: never a fake fix (flows/initial_load.py)
    "il.inn_placeholder": {"ru": "ИНН {inn} — заглушка, а не номер: введите настоящий ИНН контрагента (его нельзя "
                                 "«исправить» по контрольной цифре)",
                           "en": "INN {inn} is a placeholder, not a number — enter the counterparty's real INN (it "
                                 "cannot be \"corrected\" by its check digit)"},
    "il.inn_malformed": {"ru": "ИНН {inn}: {n} цифр — у организации в ИНН 10 цифр, у ИП 12",
                         "en": "INN {inn}: {n} digits — a company's INN has 10, a sole trader's 12"},
    "il.inn_mistyped": {"ru": "ИНН {inn}: контрольная цифра не сходится, значит где-то опечатка — сверьте с документами "
                              "контрагента (замена последней цифры дала бы лишь чужой действительный ИНН)",
                        "en": "INN {inn}: the check digit does not match, so a digit was mistyped somewhere — compare "
                              "it with the counterparty's documents (changing the last digit would only give someone "
                              "else's valid INN)"},
    "il.inn_near": {"ru": "; он отличается одной цифрой от ИНН {who} — вероятно, это та же компания",
                    "en": "; it is one digit away from {who} — probably the same company"},
    # ---------------------------------------------------------------- money user fields (engine/mapper.py)
    "money.not_number": {"ru": "«{field}» = «{value}» — это не сумма: нужно число, например 1500.00",
                         "en": "`{field}` = {value!r} is not an amount: a number is needed, e.g. 1500.00"},
    "money.bad_currency": {"ru": "«{field}» = «{value}»: валюта должна быть трёхбуквенным кодом, например RUB",
                           "en": "`{field}` = {value!r}: the currency must be a three-letter code such as RUB"},
    "money.bad_currency_field": {"ru": "в поле «{field}» «{value}» — это не код валюты (нужно три буквы, например RUB)",
                                 "en": "`{field}` holds {value!r}, not a currency code (three letters such as RUB)"},
    "money.other_currency": {"ru": "«{field}» = {value}: сумма в {currency}, а учётная система ведёт это поле в "
                                   "{expected} — укажите сумму в {expected} (b24sync не пересчитывает валюты)",
                             "en": "`{field}` = {value}: the amount is in {currency} but the ERP keeps this field in "
                                   "{expected} — enter it in {expected} (b24sync does not convert currencies)"},
    # ---------------------------------------------------------------- record sync (engine/binder.py, engine/create.py, engine/mapper.py)
    "side.crm": {"ru": "CRM", "en": "CRM"},
    "side.erp": {"ru": "учётной системе", "en": "the ERP"},
    "side.in.crm": {"ru": "Битрикс24", "en": "Bitrix24"},
    "side.in.erp": {"ru": "учётной системе", "en": "the ERP"},
    "sync.by_link": {"ru": "полю связи {field}", "en": "link field {field}"},
    "sync.by_key": {"ru": "ключу {key}", "en": "match key {key}"},
    "sync.required_empty": {"ru": "{title}: поле «{field}» не заполнено, а без него запись не передаётся — заполните "
                                  "его в {where}, и запись синхронизируется",
                            "en": "{title}: `{field}` is empty but required — fill it in {where} and the record will "
                                  "sync"},
    "sync.not_in_table": {"ru": "значения «{value}» поля «{field}» ({side}) нет в {name} — добавьте его в таблицу "
                                "спецификации, затем повторите запись (b24sync replay)",
                          "en": "{side} value {value!r} of `{field}` is not in {name} — add it to the spec's table, "
                                "then replay this record"},
    "sync.map_of": {"ru": "таблице значений поля {field}", "en": "the map of {field}"},
    "sync.table": {"ru": "таблице {table}", "en": "{table}"},
    "sync.not_number": {"ru": "«{field}» = «{value}» — это не число", "en": "`{field}` = {value!r} is not a number"},
    "sync.not_valid": {"ru": "«{field}» = «{value}» — недопустимое значение (ожидается {type})",
                       "en": "`{field}` = {value!r} is not a valid {type}"},
    "sync.no_match_key": {"ru": "{title} {id}: не заполнен ключ сопоставления ({names}) — заполните его, чтобы запись "
                                "нашлась в другой системе и не появился дубль",
                          "en": "{title} {id}: no match key value ({names}) — fill it in so the record can be found "
                                "on the other side without creating a duplicate"},
    "sync.many_found": {"ru": "в {side} {n} записей с одинаковым значением по {label} ({ids}) — объедините там дубли, "
                              "затем повторите; ничего не создано",
                        "en": "{n} records on the {side} side have the same {label} ({ids}) — merge the duplicates "
                              "there, then replay; nothing was created"},
    "sync.version_conflict": {"ru": "запись {id} в {side} изменили, пока b24sync готовил запись в неё (поля: {fields}) — "
                                   "наши значения не записаны; решите на странице «Проверка»: записать наши или "
                                   "оставить значения системы",
                             "en": "record {id} in {side} was changed while b24sync was writing to it (fields: "
                                   "{fields}) — our values were not written; decide on the Review page: write ours or "
                                   "keep the system's"},
    "sync.relink": {"ru": "запись {tgt} {target_id}, найденная по {label}, уже связана с записью {src} {linked} (она "
                          "существует), значит запись {src} {src_id} похожа на её дубль — объедините их (или исправьте "
                          "ключ), затем повторите; ничего не записано",
                    "en": "the {tgt} record {target_id} found by {label} is already linked to {src} record {linked}, "
                          "so {src} record {src_id} looks like a duplicate of it — merge the two (or correct the key), "
                          "then replay; nothing was written"},
    # ---------------------------------------------------------------- guards (engine/guards.py)
    "hold.fill_in": {"ru": "заполните {fields} — и запись синхронизируется",
                     "en": "fill in {fields} and the record will sync"},
    "valid.head": {"ru": "Запись ждёт, пока реквизиты не будут исправлены",
                   "en": "The record waits until its requisites are correct"},
    "valid.fill": {"ru": "заполните «{label}»", "en": "fill in {label}"},
    "valid.fill_bic": {"ru": "заполните БИК банка для «{label}»", "en": "fill in the bank's BIC for {label}"},
    "valid.fix": {"ru": "исправьте «{label}»: {message}", "en": "fix {label}: {message}"},
    "valid.fix_bare": {"ru": "исправьте {message}", "en": "fix {message}"},
    # ---------------------------------------------------------------- notifications (flows/notify.py)
    "notify.timeline.held": {"ru": "b24sync: запись ожидает ({title} → {target}). {reason}",
                             "en": "b24sync: this record is waiting ({title} → {target}). {reason}"},
    "notify.timeline.dead": {"ru": "b24sync: запись не удалось синхронизировать ({title} → {target}). {reason}",
                             "en": "b24sync: this record could not be synced ({title} → {target}). {reason}"},
    "notify.timeline.conflict": {"ru": "b24sync: конфликт данных при синхронизации ({title} → {target}). {reason}",
                                 "en": "b24sync: this record has a conflict ({title} → {target}). {reason}"},
    "notify.target.erp": {"ru": "учётная система", "en": "ERP"},
    "notify.target.crm": {"ru": "CRM", "en": "CRM"},
    "notify.im.held": {"ru": "b24sync: «{name}» ожидает: {reason}", "en": "b24sync: {name} is waiting: {reason}"},
    "notify.im.dead": {"ru": "b24sync: «{name}» не удалось синхронизировать: {reason}",
                       "en": "b24sync: {name} could not be synced: {reason}"},
    "notify.im.conflict": {"ru": "b24sync: «{name}» — конфликт данных: {reason}",
                           "en": "b24sync: {name} has a conflict: {reason}"},
    "notify.reverted": {"ru": "b24sync: ручное изменение ({fields}) отменено — эти поля ведутся в {erp} (юридические и "
                              "банковские данные ведёт учётная система). Попросите бухгалтерию изменить их там; новое "
                              "значение придёт сюда само.",
                        "en": "b24sync: the manual change of {fields} was reverted — these fields are kept in {erp} "
                              "(the ERP owns legal and banking data). Ask accounting to change them there; the new "
                              "value will arrive here by itself."},
    # what a manager calls a field
    "field.TITLE": {"ru": "название компании", "en": "company name"},
    "field.RQ_COMPANY_NAME": {"ru": "сокращённое наименование", "en": "short legal name"},
    "field.RQ_COMPANY_FULL_NAME": {"ru": "полное наименование", "en": "full legal name"},
    "field.RQ_INN": {"ru": "ИНН", "en": "INN"},
    "field.RQ_KPP": {"ru": "КПП", "en": "KPP"},
    "field.RQ_OGRN": {"ru": "ОГРН", "en": "OGRN"},
    "field.RQ_OGRNIP": {"ru": "ОГРНИП", "en": "OGRNIP"},
    "field.PRESET_ID": {"ru": "организационно-правовая форма", "en": "legal form"},
    "field.BANK_RQ_BANK_NAME": {"ru": "банк", "en": "bank name"},
    "field.BANK_RQ_BIK": {"ru": "БИК", "en": "BIC"},
    "field.BANK_RQ_ACC_NUM": {"ru": "расчётный счёт", "en": "settlement account"},
    "field.BANK_RQ_COR_ACC_NUM": {"ru": "корреспондентский счёт", "en": "correspondent account"},
    "field.ADDR_ADDRESS_1": {"ru": "юридический адрес", "en": "legal address"},
    "field.ADDR_CITY": {"ru": "город юридического адреса", "en": "legal address city"},
    "field.ADDR_REGION": {"ru": "регион юридического адреса", "en": "legal address region"},
    "field.ADDR_": {"ru": "юридический адрес", "en": "legal address"},
    "field.UF_CRM_DEBT": {"ru": "задолженность", "en": "debt"},
    "field.RQ_DIRECTOR": {"ru": "руководитель", "en": "director"},
    "field.RQ_CEO_NAME": {"ru": "ФИО руководителя", "en": "CEO name"},
    "field.RQ_CEO_WORK_POS": {"ru": "должность руководителя", "en": "CEO position"},
    "field.RQ_COMPANY_REG_DATE": {"ru": "дата регистрации", "en": "registration date"},
    "field.RQ_LAST_NAME": {"ru": "фамилия", "en": "last name"},
    "field.RQ_FIRST_NAME": {"ru": "имя", "en": "first name"},
    "field.RQ_SECOND_NAME": {"ru": "отчество", "en": "middle name"},
    "field.RQ_NAME": {"ru": "ФИО", "en": "full name"},
    # ---------------------------------------------------------------- party register and auto-fill
    "party.who": {"ru": "{name} (ИНН {inn}{kpp})", "en": "{name} (INN {inn}{kpp})"},
    "party.kpp": {"ru": ", КПП {kpp}", "en": ", KPP {kpp}"},
    "party.liquidated": {"ru": "{who} ликвидирована{since} по данным государственного реестра — она не может ни "
                               "подписывать, ни платить. Уточните ИНН у клиента или выберите другую компанию; до тех пор "
                               "запись ждёт.",
                         "en": "{who} was liquidated{since} according to the state register — it cannot sign or pay. "
                               "Check the INN with the client or choose another company; the record is held until then."},
    "party.liquidating": {"ru": "{who} в процессе ликвидации по данным государственного реестра. Согласуйте с "
                                "руководителем, прежде чем отправлять документы; запись ждёт, пока не изменится статус "
                                "или компания.",
                          "en": "{who} is being liquidated according to the state register. Confirm with a manager "
                                "before sending documents; the record is held until the status or the company changes."},
    "party.since": {"ru": " {date:%d.%m.%Y}", "en": " on {date:%d.%m.%Y}"},
    "party.since_from": {"ru": " с {date:%d.%m.%Y}", "en": " since {date:%d.%m.%Y}"},
    "party.bad_inn": {"ru": "{message} — компанию нельзя проверить в {title}, и она не передаётся в {where}, пока ИНН "
                            "не исправлен.",
                      "en": "{message} — the company cannot be checked in {title} and is not sent to {where} until the "
                            "INN is right."},
    "party.not_found": {"ru": "ИНН {inn} не найден в {title} (государственный реестр) — уточните его у клиента, возможна "
                              "опечатка; компания не передаётся в {where}, пока ИНН не исправлен.",
                        "en": "INN {inn} is not found in {title} (the state register) — check it with the client, it "
                              "may be a typo; the company is not sent to {where} until the INN is right."},
    "party.hold_liquidated": {"ru": "{who} ликвидирована{since} по данным {title} — она не передаётся в {where}. "
                                    "Уточните ИНН у клиента или выберите другую компанию.",
                              "en": "{who} is liquidated{since} according to {title} — it is not sent to {where}. "
                                    "Check the INN with the client or choose another company."},
    "party.hold_liquidating": {"ru": "{who} в процессе ликвидации по данным {title} — она не передаётся в {where}, пока "
                                     "идёт ликвидация. Уточните у клиента, прежде чем заключать сделку.",
                               "en": "{who} is being liquidated according to {title} — it is not sent to {where} while "
                                     "the liquidation lasts. Check with the client before any deal."},
    "autofill.kpp_invalid": {"ru": "Реквизиты не заполнены из {title}: {message}. Исправьте КПП (или очистите его для "
                                   "головной организации).",
                             "en": "Requisites were not filled from {title}: {message}. Fix the KPP (or clear it for "
                                   "the head office)."},
    "autofill.inn_invalid": {"ru": "Реквизиты не заполнены из {title}: {message}. Исправьте ИНН в реквизитах компании — "
                                   "и они заполнятся.",
                             "en": "Requisites were not filled from {title}: {message}. Fix the INN in the company's "
                                   "requisites and they will be filled."},
    "autofill.kpp_missed": {"ru": "b24sync: {title} знает ИНН {inn} ({name}), но ни у одного подразделения нет КПП "
                                  "{kpp} — проверьте КПП (или очистите его, чтобы заполнить реквизиты головной "
                                  "организации). Ничего не заполнено.",
                            "en": "b24sync: {title} knows INN {inn} ({name}), but no office of it has KPP {kpp} — check "
                                  "the KPP (or clear it to fill the head office's requisites). Nothing was filled."},
    "autofill.not_found": {"ru": "b24sync: ИНН {inn} не найден в {title} (государственный реестр) — уточните его у "
                                 "клиента, возможна опечатка. Ничего не заполнено.",
                           "en": "b24sync: INN {inn} is not found in {title} (the state register) — check it with the "
                                 "client, it may be a typo. Nothing was filled."},
    "autofill.head_office": {"ru": "головная организация", "en": "head office"},
    "autofill.branch": {"ru": "филиал, КПП {kpp}", "en": "branch, KPP {kpp}"},
    "autofill.filled": {"ru": "b24sync заполнил реквизиты из {title} по ИНН {inn} ({name}, {unit}): {fields}.",
                        "en": "b24sync filled the requisites from {title} by INN {inn} ({name}, {unit}): {fields}."},
    "autofill.kept": {"ru": "Оставлены значения, введённые вручную: {items}.",
                      "en": "Kept the values entered by hand: {items}."},
    "autofill.kept_item": {"ru": "{field} {mine} ({title}: {theirs})", "en": "{field} {mine} ({title}: {theirs})"},
    "autofill.liquidated": {"ru": "ликвидирована{since}", "en": "liquidated{since}"},
    "autofill.liquidating": {"ru": "в процессе ликвидации", "en": "being liquidated"},
    "autofill.attention": {"ru": "Внимание: по данным {title} компания {state}.",
                           "en": "Attention: according to {title} the company is {state}."},
    # ---------------------------------------------------------------- the rendered spec (spec/render.py)
    "doc.systems": {"ru": "Системы", "en": "Systems"},
    "doc.systems_head": {"ru": "| Система | Роль | Коннектор |", "en": "| System | Role | Connector |"},
    "doc.entities": {"ru": "Сущности", "en": "Entities"},
    "doc.entities_head": {"ru": "| Сущность | Ведущая система | Направление | Объект CRM | Объект ERP | Запуск |",
                          "en": "| Entity | Master | Direction | CRM object | ERP object | Trigger |"},
    "doc.flows": {"ru": "Потоки данных", "en": "Data flows"},
    "doc.role.crm": {"ru": "CRM", "en": "CRM"},
    "doc.role.erp": {"ru": "ERP / учёт", "en": "ERP / accounting"},
    "doc.role.service": {"ru": "сервис", "en": "service"},
    "doc.dir.erp_to_crm": {"ru": "ERP → CRM", "en": "ERP → CRM"},
    "doc.dir.crm_to_erp": {"ru": "CRM → ERP", "en": "CRM → ERP"},
    "doc.dir.both": {"ru": "в обе стороны", "en": "both ways"},
    "doc.trigger.poll": {"ru": "опрос раз в {every}", "en": "every {every}"},
    "doc.trigger.side.crm": {"ru": " (в CRM)", "en": " (crm)"},
    "doc.trigger.side.erp": {"ru": " (в учётной системе)", "en": " (erp)"},
    "doc.unit.ms": {"ru": "мс", "en": "ms"},
    "doc.unit.s": {"ru": "с", "en": "s"},
    "doc.unit.m": {"ru": "мин", "en": "min"},
    "doc.unit.h": {"ru": "ч", "en": "h"},
    "doc.unit.d": {"ru": "сут.", "en": "d"},
    "doc.trigger.webhook": {"ru": "событие Битрикс24 {event}", "en": "Bitrix24 event {event}"},
    "doc.trigger.robot_crm": {"ru": "робот Битрикс24 «{name}» ({code}): отправить карточку сейчас",
                              "en": "Bitrix24 robot “{name}” ({code}): send the card now"},
    "doc.trigger.robot_erp": {"ru": "робот Битрикс24 «{name}» ({code}): загрузить из учётной системы сейчас",
                              "en": "Bitrix24 robot “{name}” ({code}): pull from the ERP now"},
    "robot.answer.ok": {"ru": "Готово: {what}", "en": "Done: {what}"},
    "robot.answer.failed": {"ru": "Не удалось синхронизировать: {reason}", "en": "Sync failed: {reason}"},
    "robot.answer.held": {"ru": "Запись отложена до решения менеджера: {reason}",
                          "en": "The record is held for a manager: {reason}"},
    "robot.answer.skipped": {"ru": "Синхронизация не нужна: {reason}", "en": "Nothing to sync: {reason}"},
    "robot.answer.not_linked": {"ru": "Карточка ещё не связана с записью учётной системы — загружать нечего",
                                "en": "The card is not linked to an ERP record yet — nothing to pull"},
    "robot.answer.no_entity": {"ru": "Робот {code} не настроен для этого типа документа",
                               "en": "Robot {code} is not set up for this document type"},
    "robot.action.created": {"ru": "запись создана", "en": "record created"},
    "robot.action.updated": {"ru": "запись обновлена", "en": "record updated"},
    "robot.action.linked": {"ru": "запись связана с существующей", "en": "record linked to an existing one"},
    "robot.action.unchanged": {"ru": "изменений нет, данные уже совпадают", "en": "no changes, the data already match"},
    "robot.action.other": {"ru": "синхронизация выполнена ({action})", "en": "sync done ({action})"},
    "doc.trigger.event": {"ru": "событие ERP {event}", "en": "ERP event {event}"},
    "doc.trigger.stage": {"ru": "переход на стадию {stages}", "en": "stage change to {stages}"},
    "doc.trigger.stage_from": {"ru": "переход со стадии {stages}", "en": "stage change from {stages}"},
    "doc.trigger.manual": {"ru": "вручную", "en": "manual"},
    "doc.tr.values": {"ru": "значения: {pairs}", "en": "values: {pairs}"},
    "doc.tr.table": {"ru": "таблица `{table}`", "en": "table `{table}`"},
    "doc.tr.table_qualified": {"ru": "таблица `{table}` (с уточнением по полю {field})",
                               "en": "table `{table}` (refined by {field})"},
    "doc.tr.scale": {"ru": "× {scale} в CRM", "en": "× {scale} to CRM"},
    "doc.tr.phone": {"ru": "телефон в формате E.164", "en": "phone to E.164"},
    "doc.tr.inn": {"ru": "ИНН (с проверкой)", "en": "INN (checked)"},
    "doc.tr.email": {"ru": "e-mail (с проверкой)", "en": "e-mail (checked)"},
    "doc.tr.type": {"ru": "как {type}", "en": "as {type}"},
    "doc.owner.crm": {"ru": "CRM", "en": "CRM"},
    "doc.owner.erp": {"ru": "ERP", "en": "ERP"},
    "doc.owner.both": {"ru": "обе (побеждает ведущая)", "en": "both (master wins)"},
    "doc.owner.on_create": {"ru": " (только при создании)", "en": " (on create)"},
    "doc.entity_line": {"ru": "Ведущая система: **{master}**. Направление: **{direction}**. CRM `{crm}` ⇄ ERP `{erp}`.",
                        "en": "Master: **{master}**. Direction: **{direction}**. CRM `{crm}` ⇄ ERP `{erp}`."},
    "doc.fields_head": {"ru": "| Поле CRM | Поле ERP | Владелец | Преобразование |",
                        "en": "| CRM field | ERP field | Owner | Transform |"},
    "doc.selection": {"ru": "**Что синхронизируется**", "en": "**What is synced**"},
    "doc.sel.filter": {"ru": "- Отбор в {side} (`{object}`): `{filter}`", "en": "- Filter on {side} (`{object}`): `{filter}`"},
    "doc.sel.price_types": {"ru": "- Виды цен: {names}", "en": "- Price types: {names}"},
    "doc.sel.warehouses": {"ru": "- Склады: {names}", "en": "- Warehouses: {names}"},
    "doc.sel.all_warehouses": {"ru": "- Склады: все (остаток — сумма по складам)",
                               "en": "- Warehouses: all (stock is the sum over them)"},
    "doc.sel.option": {"ru": "- Параметр {side} `{name}`: {value}", "en": "- {side} option `{name}`: {value}"},
    "doc.sel.everything": {"ru": "- Все записи объектов, без отбора", "en": "- Every record of the objects, no filter"},
    "doc.rules": {"ru": "**Правила**", "en": "**Rules**"},
    "doc.match": {"ru": "- Сопоставление: {parts}", "en": "- Match: {parts}"},
    "doc.link": {"ru": "- Связь: {links}", "en": "- Link: {links}"},
    "doc.link.crm": {"ru": "id ERP хранится в поле CRM `{field}`", "en": "ERP id stored in CRM field `{field}`"},
    "doc.link.erp": {"ru": "id CRM хранится в поле ERP `{field}`", "en": "CRM id stored in ERP field `{field}`"},
    "doc.only_if": {"ru": "- Только записи, где `{field}` ({side}) — одно из: {values}",
                    "en": "- Only records whose `{field}` ({side}) is one of: {values}"},
    "doc.skip_if": {"ru": "- Не синхронизируется, пока заполнено `{field}` ({side})",
                    "en": "- Not synced while `{field}` ({side}) is set"},
    "doc.require_fields": {"ru": "- Ждёт, пока не заполнены {fields} ({side})",
                           "en": "- Held until {fields} ({side}) are filled"},
    "doc.require_related": {"ru": "- Ждёт ({on}), пока не появится связанный {objects}: “{message}”",
                            "en": "- Held ({on}) until a related {objects} exists: “{message}”"},
    "doc.require_valid": {"ru": "- Ждёт ({on}), пока не исправлены реквизиты ({side}): {checks}",
                          "en": "- Held ({on}) until the requisites ({side}) are valid: {checks}"},
    "doc.require_active_party": {"ru": "- Ждёт ({on}), пока `{provider}` сообщает, что компания с ИНН `{inn}` ({side}) "
                                       "ликвидирована или ликвидируется{unknown}",
                                 "en": "- Held ({on}) while `{provider}` says the company with INN `{inn}` ({side}) is "
                                       "liquidated or being liquidated{unknown}"},
    "doc.require_active_party.unknown": {"ru": " или не знает ИНН", "en": " or does not know the INN"},
    "doc.both_conflict": {"ru": "- Поле изменили в обеих системах: побеждает значение ведущей, конфликт записывается",
                          "en": "- Both sides changed one field: the master's value wins and the conflict is recorded"},
    "doc.read_only": {"ru": "- На другой стороне поля только для чтения: ручная правка возвращается к значению {owner}",
                      "en": "- Fields are read-only on the other side: a manual edit there is reverted to the {owner} "
                            "value"},
    "doc.value_tables": {"ru": "Таблицы значений", "en": "Value tables"},
    "doc.value_head": {"ru": "| Значение ERP | Значение CRM |", "en": "| ERP value | CRM value |"},
}


# ---- sums over related documents: payments and shipments (engine/aggregate.py, docs/flow-payments.md) ------------
CATALOGUE.update({
    "agg.note.payment": {"ru": "Оплата {amount} получена {date} (документ № {number})",
                         "en": "Payment of {amount} received on {date} (document no. {number})"},
    "agg.note.payment.reversed": {"ru": "Оплата {amount} от {date} (документ № {number}) отменена в учётной системе — "
                                        "оплаченная сумма уменьшена",
                                  "en": "Payment of {amount} of {date} (document no. {number}) was cancelled in the "
                                        "accounting system — the paid amount is reduced"},
    "agg.note.shipment": {"ru": "Отгрузка на {amount} от {date} (документ № {number})",
                          "en": "Shipment of {amount} on {date} (document no. {number})"},
    "agg.note.shipment.reversed": {"ru": "Отгрузка на {amount} от {date} (документ № {number}) отменена в учётной "
                                         "системе — отгруженная сумма уменьшена",
                                   "en": "Shipment of {amount} of {date} (document no. {number}) was cancelled in the "
                                         "accounting system — the shipped amount is reduced"},
    "agg.hold.no_target": {"ru": "Не понятно, к какой сделке относится документ № {number} от {date}: в нём нет "
                                 "ссылки на заказ или счёт, связанный со сделкой, а в назначении платежа «{purpose}» "
                                 "нет номера известного счёта. Укажите в учётной системе, к какому заказу или счёту "
                                 "он относится (расшифровка платежа, строки документа), затем повторите.",
                           "en": "Which deal document no. {number} of {date} belongs to is unclear: it links no order "
                                 "or invoice linked to a deal, and its purpose «{purpose}» names no known invoice "
                                 "number. Say in the accounting system which order or invoice it belongs to (payment breakdown, document rows), then replay."},
    "overdue.notice": {"ru": "Счёт № {number} просрочен на {days} дн., остаток {balance} (срок оплаты {due}).",
                       "en": "Invoice no. {number} is {days} days overdue, {balance} outstanding (due {due})."},
    "overdue.no_manager": {"ru": "Счёт № {number} просрочен, но в нём не указан ответственный ({field}) — "
                                 "уведомление о просрочке некому отправить. Назначьте ответственного.",
                           "en": "Invoice no. {number} is overdue but names no responsible person ({field}) — "
                                 "there is nobody to notify. Assign one."},
    "agg.hold.no_target_part": {"ru": "Документ № {number} от {date}: {counted} учтено, а для {amount} в строках "
                                      "документа не указано, к какому заказу или счёту они относятся. Укажите это в "
                                      "учётной системе (расшифровка платежа), затем повторите: b24sync replay --held.",
                                "en": "Document no. {number} of {date}: {counted} counted; for {amount} the rows do "
                                      "not say which order or invoice it pays. Say so in the accounting system "
                                      "(payment breakdown), then replay: b24sync replay --held."},
    "agg.hold.unlinked_part": {"ru": "Документ № {number} от {date}: {counted} учтено, а {amount} относится к "
                                     "документу учётной системы ({refs}), который не связан ни с одной записью "
                                     "Bitrix24 — эта часть будет учтена, как только он будет связан (или повторите "
                                     "после связи: b24sync replay --held).",
                              "en": "Document no. {number} of {date}: {counted} counted; {amount} belongs to an "
                                    "accounting-system document ({refs}) no Bitrix24 record is linked to — that part "
                                    "counts as soon as it is linked (or replay after linking: b24sync replay --held)."},
    "agg.hold.unlinked": {"ru": "Документ № {number} от {date} относится к документу учётной системы ({refs}), "
                                "который не связан ни с одной записью Bitrix24 — свяжите его (или дождитесь, пока "
                                "сделка будет создана), затем повторите: b24sync replay --held.",
                          "en": "Document no. {number} of {date} belongs to an accounting-system document ({refs}) "
                                "that no Bitrix24 record is linked to — link it (or wait until its deal exists), then "
                                "replay: b24sync replay --held."},
    "agg.hold.ambiguous": {"ru": "Назначение платежа «{purpose}» документа № {number} от {date} подходит к нескольким "
                                 "записям ({candidates}) — b24sync не угадывает. Укажите в учётной системе, что "
                                 "оплачено, затем повторите.",
                           "en": "The purpose «{purpose}» of document no. {number} of {date} fits several records "
                                 "({candidates}) — b24sync does not guess. Say in the accounting system what it pays, "
                                 "then replay."},
    "agg.conflict.amount": {"ru": "Платёж № {number} от {date} этого плательщика уже учтён на {before} (документ "
                                  "{other}), а документ {this} с теми же номером, датой и плательщиком — на {amount}. "
                                  "Проверьте, какой из них верный (лишний пометьте на удаление), затем повторите; "
                                  "ничего не записано.",
                            "en": "Payment no. {number} of {date} of this payer is already counted as {before} "
                                  "(document {other}), and document {this} with the same number, date and payer says "
                                  "{amount}. Check which one is right (mark the other for deletion), then replay; "
                                  "nothing was written."},
    "agg.bad_amount": {"ru": "Документ {this}: сумма «{value}» в поле {field} — не число; документ не учтён.",
                       "en": "Document {this}: the amount «{value}» in {field} is not a number; not counted."},
    "doc.agg.sum": {"ru": "- Сумма по документам (реестр `{ledger}`): `{amount}` по строкам `{rows}`; учитываются "
                          "документы, где {counts}; проведение отменено, пометка удаления, сторно или исправление "
                          "возвращают сумму",
                    "en": "- Sum over documents (ledger `{ledger}`): `{amount}` per row of `{rows}`; documents count "
                          "where {counts}; unposting, deletion mark, storno or correction take the amount back"},
    "doc.agg.key": {"ru": "- Повторный документ с тем же {key} не учитывается; с другой суммой — конфликт для "
                          "человека",
                    "en": "- A second document with the same {key} is not counted; with another amount it is a "
                          "conflict for a person"},
    "doc.agg.target": {"ru": "- Относится к записи через связи `{via}` по {ref}{kind}{follow}; в CRM пишется: "
                             "{figures}; {note}",
                       "en": "- Belongs to the record through the links of `{via}` by {ref}{kind}{follow}; written "
                             "into the CRM: {figures}; {note}"},
    "doc.agg.type": {"ru": " (только ссылки на `{type}`)", "en": " (only references to `{type}`)"},
    "doc.agg.follow": {"ru": ", через поле `{field}` этого документа", "en": ", through its field `{field}`"},
    "doc.agg.note.on": {"ru": "одна запись в ленте на документ", "en": "one timeline entry per document"},
    "doc.agg.note.off": {"ru": "без записи в ленте", "en": "no timeline entry"},
    "doc.agg.reach": {"ru": "- Когда сумма достигает `{total}`: `{field}` = `{value}` (один раз){unless}",
                      "en": "- When the sum reaches `{total}`: `{field}` = `{value}` (once){unless}"},
    "doc.agg.unless": {"ru": ", кроме записей на {values}", "en": ", except records at {values}"},
    "doc.credit.rule": {"ru": "- Кредитный лимит: долг клиента `{debt}` из учётной системы сравнивается с лимитом "
                              "({limit}); клиент сопоставляется с компанией через сущность `{company}`. Долг больше "
                              "лимита — открытые сделки воронок {pipelines} переходят на стадию `{stage}` "
                              "(«{stage_name}»), запоминая прежнюю стадию{leave}; долг не больше лимита — сделки "
                              "возвращаются на прежние стадии",
                        "en": "- Credit limit: the client's debt `{debt}` from the accounting system is compared with "
                              "its limit ({limit}); the client is found as a company through the entity `{company}`. "
                              "Debt over the limit — the open deals of pipelines {pipelines} move to the stage "
                              "`{stage}` (“{stage_name}”), remembering where they were{leave}; debt at or below the "
                              "limit — the deals return to their stages"},
    "doc.credit.limit.erp": {"ru": "поле `{field}` учётной системы", "en": "the accounting system's field `{field}`"},
    "doc.credit.limit.crm": {"ru": "поле компании `{field}`", "en": "the company field `{field}`"},
    "doc.credit.limit.both": {"ru": "поле `{erp}` учётной системы, а где его нет — поле компании `{crm}`",
                              "en": "the accounting system's field `{erp}`, where it has none the company field "
                                    "`{crm}`"},
    "doc.credit.limit.none": {"ru": "лимит не задан — только просрочка", "en": "no limit — only overdue debt"},
    "doc.credit.leave": {"ru": "; стадии {stages} не трогаются", "en": "; stages {stages} are left alone"},
    "doc.credit.new": {"ru": "- Новая сделка клиента сверх лимита сразу переходит на стадию ожидания (Битрикс24 не "
                             "позволяет запретить её создание); перенос приостановленной сделки вручную, пока долг "
                             "больше лимита, отменяется с комментарием в ленте",
                       "en": "- A new deal of a client over its limit moves to the waiting stage at once (Bitrix24 "
                             "cannot refuse its creation); a manual move of a suspended deal while the debt is over "
                             "the limit is undone with a timeline note"},
    "doc.credit.notify": {"ru": "- Ответственный за сделку получает одно уведомление при приостановке и одно при "
                                "возврате",
                          "en": "- The deal's manager gets one notification when it is suspended and one when it "
                                "returns"},
    "doc.overdue": {"ru": "- Просроченные счета: каждый день в {at} ({tz}) ответственному (`{who}`) приходит одно "
                          "уведомление «Счёт № … просрочен на N дн., остаток … ₽», если срок оплаты (`{due}`) прошёл, "
                          "а остаток (`{total}` минус {paid}) больше нуля; не чаще раза в день на счёт{skip}",
                    "en": "- Overdue invoices: every day at {at} ({tz}) the responsible person (`{who}`) gets one "
                          "notice «Invoice no. … is N days overdue, … outstanding» when the due date (`{due}`) has "
                          "passed and the balance (`{total}` minus {paid}) is above zero; at most once a day per "
                          "invoice{skip}"},
    "doc.overdue.ledger": {"ru": "оплаты, учтённые в `{ledger}`", "en": "the payments counted in `{ledger}`"},
    "doc.overdue.field": {"ru": "`{field}`", "en": "`{field}`"},
    "doc.overdue.skip": {"ru": "; на стадиях {stages} — нет", "en": "; none at the stages {stages}"},
    "doc.agg.lock": {"ru": "- После первой оплаты {fields} ведутся в учётной системе: правка в CRM отменяется с "
                           "комментарием",
                     "en": "- After the first payment {fields} are kept in the accounting system: an edit in the CRM "
                           "is put back with a note"},
    "doc.agg.purpose": {"ru": "- Без ссылки на документ — по номеру из `{field}` в поле `{number}`; несколько или ни "
                              "одного — на разбор человеку",
                        "en": "- Without a document link — by the number in `{field}` found in `{number}`; several or "
                              "none — held for a person"},
    "credit.suspended": {"ru": "Сделка «{title}» (№ {deal}) приостановлена: долг клиента {client} — {debt} при "
                               "кредитном лимите {limit}{overdue}. Она вернётся на прежнюю стадию сама, когда долг "
                               "снизится до лимита.",
                         "en": "Deal “{title}” (no. {deal}) is suspended: the debt of {client} is {debt} against a "
                               "credit limit of {limit}{overdue}. It returns to its previous stage by itself once "
                               "the debt is down to the limit."},
    "credit.suspended.overdue": {"ru": "Сделка «{title}» (№ {deal}) приостановлена: у клиента {client} просрочен долг "
                                       "{overdue} (всего долг {debt}), а договор просрочку не допускает. Она вернётся "
                                       "на прежнюю стадию сама, когда просрочка будет погашена.",
                                 "en": "Deal “{title}” (no. {deal}) is suspended: {client} has {overdue} overdue (debt "
                                       "{debt} in all) and its contract allows no overdue debt. It returns to its "
                                       "previous stage by itself once the overdue debt is paid."},
    "credit.put_back.overdue": {"ru": "b24sync: сделка остаётся приостановленной — у клиента {client} просрочен долг "
                                      "{overdue}, а договор просрочку не допускает. Она вернётся на прежнюю стадию "
                                      "сама, когда просрочка будет погашена; до тех пор перенос на другую стадию "
                                      "отменяется.",
                                "en": "b24sync: the deal stays suspended — {client} has {overdue} overdue and its "
                                      "contract allows no overdue debt. It returns to its previous stage by itself "
                                      "once that is paid; until then a move to another stage is undone."},
    "doc.credit.no_overdue": {"ru": "- Просроченный долг `{overdue}` при договоре, который просрочку не допускает "
                                    "(`{field}`), тоже приостанавливает сделки",
                              "en": "- Overdue debt `{overdue}` under a contract that allows none (`{field}`) suspends "
                                    "the deals too"},
    "credit.overdue": {"ru": ", из них просрочено {overdue}", "en": ", {overdue} of it overdue"},
    "credit.released": {"ru": "Сделка «{title}» (№ {deal}) возвращена на стадию {stage}: долг клиента {client} — "
                              "{debt}, кредитный лимит {limit}.",
                        "en": "Deal “{title}” (no. {deal}) is back at stage {stage}: the debt of {client} is {debt}, "
                              "the credit limit {limit}."},
    "credit.put_back": {"ru": "b24sync: сделка остаётся приостановленной — долг клиента {client} ({debt}) превышает "
                              "кредитный лимит ({limit}). Она вернётся на прежнюю стадию сама, когда долг снизится "
                              "до лимита; до тех пор перенос на другую стадию отменяется.",
                        "en": "b24sync: the deal stays suspended — the debt of {client} ({debt}) is over the credit "
                              "limit ({limit}). It returns to its previous stage by itself once the debt is down to "
                              "the limit; until then a move to another stage is undone."},
    "agg.revert": {"ru": "b24sync: по этой записи уже есть оплата, поэтому {fields} ведутся в {erp}. Ручное изменение "
                         "отменено — попросите бухгалтерию внести его в {erp}.",
                   "en": "b24sync: this record has been paid, so {fields} are kept in {erp}. The manual change was "
                         "reverted — ask accounting to make it in {erp}."},
})

CATALOGUE.update({
    # ---------------------------------------------------------------- routing to several bases (engine/route.py)
    "route.empty": {"ru": "Не заполнено поле «{field}» — из-за этого неизвестно, в какую базу 1С передать запись. "
                          "Выберите одно из: {values}; запись передастся сама",
                    "en": "The field {field} is empty, so it is not known which ERP base the record goes to. Choose "
                          "one of: {values}; the record then syncs by itself"},
    "route.unknown": {"ru": "В поле «{field}» значение «{value}», для которого не задана база 1С. Выберите одно из: "
                            "{values} (или попросите администратора добавить это значение в маршрут спецификации); "
                            "запись передастся сама",
                      "en": "The field {field} holds «{value}», which no ERP base is set for. Choose one of: {values} "
                            "(or ask the administrator to add the value to the spec's route); the record then syncs "
                            "by itself"},
    "route.moved": {"ru": "Запись уже передана в базу «{home}» ({home_value}) под номером {erp_id}; в поле «{field}» "
                          "теперь «{value}». Второй документ в другой базе не создаётся: верните «{home_value}», "
                          "либо закройте документ в базе «{home}» и создайте новую сделку для «{value}»",
                    "en": "The record was sent to base {home} ({home_value}) as {erp_id}; the field {field} now says "
                          "«{value}». No second document is made in another base: put back «{home_value}», or close "
                          "the document in base {home} and make a new deal for «{value}»"},
    "route.no_parent": {"ru": "Запись не привязана {to} (поле «{field}») — база 1С выбирается по полю «{by}» {of}. "
                              "Привяжите запись {to}, где выбрано одно из: {values}; запись передастся сама",
                        "en": "The record is not linked {to} (field {field}), and the ERP base is chosen by the "
                              "field {by} {of}. Link it {to} where one of {values} is chosen; it then syncs by "
                              "itself"},
    "route.empty_value": {"ru": "пусто", "en": "empty"},
    "doc.route": {"ru": "- Маршрут по полю `{field}` (одна запись — одна база, у каждой базы свои связи): {pairs}; "
                        "пусто или другое значение — {default}; смена значения после передачи не создаёт второй "
                        "документ (запись ждёт с пояснением)",
                  "en": "- Routed by the field `{field}` (one record — one base, each base its own links): {pairs}; "
                        "empty or another value — {default}; a change of the value after the record was sent makes no "
                        "second document (the record waits, with the reason)"},
    "doc.route.carry": {"ru": "; записи из базы получают её значение в `{field}`",
                        "en": "; records from a base get its value in `{field}`"},
    "doc.route.follow": {"ru": "- В каждую из баз {systems} (у каждой свои связи) — когда запись нужна "
                               "маршрутизированному документу этой базы (клиент заказа) или уже связана с ней",
                         "en": "- Into each of the bases {systems} (each its own links) — when a routed document of "
                               "that base needs the record (the order's client) or it is linked there already"},
    "doc.route.parent": {"ru": " (поле читается у родительской записи `{object}` через `{field}`: значение выбирается "
                               "один раз, у родителя)",
                         "en": " (the field is read on the parent `{object}` through `{field}`: the value is chosen "
                               "once, on the parent)"},
    "doc.route.hold": {"ru": "запись ждёт с пояснением, что заполнить", "en": "the record waits, saying what to fill"},
    "doc.route.skip": {"ru": "запись не передаётся", "en": "the record is not sent"},
    "doc.route.to": {"ru": "в базу `{system}`", "en": "into base `{system}`"},
})
