import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b24sync.connectors.onec.odata.filters import F, Guid, literal


def test_literals_v3():
    g = uuid.UUID("8b9660f6-1c2d-11ee-9f6a-0242ac120002")
    assert literal(g) == "guid'8b9660f6-1c2d-11ee-9f6a-0242ac120002'"
    assert literal(Guid("8B9660F6-1C2D-11EE-9F6A-0242AC120002")) == "guid'8b9660f6-1c2d-11ee-9f6a-0242ac120002'"
    assert literal(datetime(2026, 1, 2, 3, 4, 5, 999)) == "datetime'2026-01-02T03:04:05'"
    assert literal(datetime(1, 1, 1)) == "datetime'0001-01-01T00:00:00'"  # four-digit year always
    assert literal(date(2026, 9, 1)) == "datetime'2026-09-01T00:00:00'"
    assert literal(True) == "true" and literal(False) == "false"
    assert literal(None) == "null"
    assert literal(1e-07) == "0.0000001"  # no exponent form
    assert literal(Decimal("22729.17")) == "22729.17"
    assert literal("O'Brien") == "'O''Brien'"


def test_literals_v4():
    g = uuid.UUID("8b9660f6-1c2d-11ee-9f6a-0242ac120002")
    assert literal(g, version=4) == "8b9660f6-1c2d-11ee-9f6a-0242ac120002"
    assert literal(datetime(2026, 1, 1, tzinfo=timezone.utc), version=4) == "2026-01-01T00:00:00+00:00"


def test_bad_guid_refused():
    with pytest.raises(ValueError):
        Guid("not-a-guid")


def test_expressions_and_precedence():
    e = F.eq("ИНН", "7707083893") & (F.eq("DeletionMark", False) | F.gt("Date", datetime(2026, 1, 1)))
    assert e.render() == ("ИНН eq '7707083893' and (DeletionMark eq false or Date gt datetime'2026-01-01T00:00:00')")
    assert (~F.eq("Posted", True)).render() == "not (Posted eq true)"
    assert F.all_(F.eq("a", 1), F.eq("b", 2), F.eq("c", 3)).render() == "a eq 1 and b eq 2 and c eq 3"
    assert F.contains("Description", "ООО").render() == "substringof('ООО', Description)"
    assert F.contains("name", "x").render(4) == "contains(name, 'x')"
    assert F.eq("Контрагент/ИНН", "1").render() == "Контрагент/ИНН eq '1'"  # navigation path (§1.6)


def test_field_injection_refused():
    with pytest.raises(ValueError):
        F.eq("a eq 1 or b", 1).render()
    with pytest.raises(ValueError):
        F.eq("a'", 1).render()


@given(st.text())
def test_string_literal_roundtrip(s):
    lit = literal(s)
    assert lit.startswith("'") and lit.endswith("'")
    body = lit[1:-1]
    # every quote inside is doubled, so undoubling restores the value and no lone quote remains
    assert body.replace("''", "") .count("'") == 0
    assert body.replace("''", "'") == s
