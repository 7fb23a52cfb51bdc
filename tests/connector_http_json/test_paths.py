import pytest
from hypothesis import given
from hypothesis import strategies as st

from b24sync.connectors.http_json.paths import get_path, parse_path, render_text, render_value, set_path


def test_parse_path():
    assert parse_path("data.items[0].id") == ["data", "items", 0, "id"]
    assert parse_path("a.0.b") == ["a", 0, "b"]
    assert parse_path("m[1][2]") == ["m", 1, 2]
    for bad in ("a..b", "a[x]", "a[0", ".a"):
        with pytest.raises(ValueError):
            parse_path(bad)


def test_get_path():
    doc = {"data": {"items": [{"id": 7}, {"id": 8}]}, "x": None}
    assert get_path(doc, "data.items[1].id") == 8
    assert get_path(doc, "data.items[-1].id") == 8
    assert get_path(doc, "data.items[5].id", "d") == "d"
    assert get_path(doc, "x.y") is None


names = st.text(alphabet="abcdefghijкирил_", min_size=1, max_size=5)
segments = st.lists(st.one_of(names, st.integers(0, 3)), min_size=1, max_size=5).filter(lambda s: isinstance(s[0], str))


@given(segments, st.integers())
def test_set_then_get(segs, value):
    path = "".join((f".{s}" if isinstance(s, str) else f"[{s}]") for s in segs).lstrip(".")
    d: dict = {}
    set_path(d, path, value)
    assert get_path(d, path) == value


def test_templates():
    ctx = {"id": "a/b c", "values": {"qty": 3, "name": "Ромашка", "ok": True}, "since": None}
    assert render_text("/orders/{id}", ctx, url=True) == "/orders/a%2Fb%20c"
    assert render_text("{values.name}-{values.ok}-{{x}}", ctx) == "Ромашка-true-{x}"
    assert render_text("{since}", ctx) == ""
    assert render_value({"q": "{values.qty}", "all": "{values}", "t": "n={values.qty}", "l": ["{id}", 1]}, ctx) == {
        "q": 3, "all": ctx["values"], "t": "n=3", "l": ["a/b c", 1]}
    assert render_value("{missing.path}", ctx) is None
