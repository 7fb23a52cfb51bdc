"""Generate «Клиент банка» statements: a header, one account section and payment documents, CRLF, cp1251."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

OUR_ACCOUNT = "40702810423000009235"  # with BIC 045004774
OUR_INN = "6663003127"


def _inn10(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(9)]
    w = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return "".join(map(str, digits)) + str(sum(a * b for a, b in zip(w, digits)) % 11 % 10)


def sample_statement(payments: int = 8, *, start: date = date(2026, 11, 2), seed: int = 1) -> bytes:
    rng = random.Random(seed)
    docs, total = [], Decimal(0)
    end = start + timedelta(days=2)
    for i in range(payments):
        day = (start + timedelta(days=i % 3)).strftime("%d.%m.%Y")
        amount = Decimal(rng.randrange(10_000, 500_000)) / 100
        total += amount
        inn, acc = _inn10(rng), f"407028104{rng.randrange(10**10, 10**11)}"
        docs.append("\n".join([
            "СекцияДокумент=Платежное поручение", f"Номер={100 + i}", f"Дата={day}", f"Сумма={amount:.2f}",
            f"ПлательщикСчет={acc}", f"ДатаСписано={day}", f'Плательщик=ИНН {inn} ООО "Покупатель {i + 1}"',
            f"ПлательщикИНН={inn}", f'Плательщик1=ООО "Покупатель {i + 1}"', f"ПлательщикРасчСчет={acc}",
            "ПлательщикБанк1=ПАО СБЕРБАНК", "ПлательщикБИК=044525225", "ПлательщикКорсчет=30101810400000000225",
            f"ПолучательСчет={OUR_ACCOUNT}", f"ДатаПоступило={day}", 'Получатель=ООО "Ромашка"',
            f"ПолучательИНН={OUR_INN}", f"ПолучательРасчСчет={OUR_ACCOUNT}", "ПолучательБИК=045004774",
            "ВидОплаты=01", "Очередность=5", f"НазначениеПлатежа=Оплата по счету № {200 + i}, в т.ч. НДС 22%",
            "КонецДокумента"]))
    head = ["1CClientBankExchange", "ВерсияФормата=1.03", "Кодировка=Windows", "Отправитель=Банк-Клиент",
            "Получатель=Бухгалтерия предприятия", f"ДатаСоздания={end.strftime('%d.%m.%Y')}", "ВремяСоздания=09:15:00",
            f"ДатаНачала={start.strftime('%d.%m.%Y')}", f"ДатаКонца={end.strftime('%d.%m.%Y')}",
            f"РасчСчет={OUR_ACCOUNT}", "СекцияРасчСчет", f"ДатаНачала={start.strftime('%d.%m.%Y')}",
            f"ДатаКонца={end.strftime('%d.%m.%Y')}", f"РасчСчет={OUR_ACCOUNT}", "НачальныйОстаток=0.00",
            f"ВсегоПоступило={total:.2f}", "ВсегоСписано=0.00", f"КонечныйОстаток={total:.2f}", "КонецРасчСчет"]
    return ("\r\n".join([*head, *docs, "КонецФайла"]) + "\r\n").encode("cp1251")
