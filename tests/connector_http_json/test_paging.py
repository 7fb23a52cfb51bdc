import asyncio
from urllib.parse import parse_qsl

import httpx
import pytest

from b24sync.connectors.http_json import from_config
from b24sync.engine.errors import PermanentError
from b24sync.engine.ports import ChangeCursor, ObjectRef

ROWS = [{"id": i, "ts": 1_700_000_000 + i} for i in range(1, 24)]  # epoch seconds


def handler(mode):
    def h(request: httpx.Request):
        q = dict(parse_qsl(request.url.query.decode()))
        lim = int(q.get("limit", 10))
        if mode == "offset":
            start = int(q["offset"])
        elif mode == "page":
            start = (int(q["page"]) - 1) * lim
        else:
            start = int(q.get("from", 0))
        page = ROWS[start:start + lim]
        body = {"rows": page}
        if mode == "link" and start + lim < len(ROWS):
            body["links"] = {"next": f"/api/items?from={start + lim}&limit={lim}"}
        if mode == "evil":
            body["links"] = {"next": "https://elsewhere.example/api/items?from=10"}
        return httpx.Response(200, json=body)
    return h


def adapter(mode):
    query = {"limit": "{limit}"}
    paging = {"type": mode if mode != "evil" else "link"}
    if mode == "offset":
        query["offset"] = "{token}"
    elif mode == "page":
        query["page"] = "{token}"
    else:
        paging["next"] = "links.next"
    return from_config("x", {"base_url": "http://svc.local/api", "transport": httpx.MockTransport(handler(mode)),
                             "objects": {"items": {"changes": {"path": "/items", "query": query, "items": "rows",
                                                               "modified": "ts", "paging": paging}}}})


@pytest.mark.parametrize("mode", ["offset", "page", "link"])
def test_all_rows_once(mode):
    async def go():
        a = adapter(mode)
        cur, ids = ChangeCursor(), []
        for _ in range(10):
            p = await a.read_changes(ObjectRef("items"), cur, overlap_seconds=0, limit=10)
            ids += [int(r.id) for r in p.records]
            cur = p.cursor
            if not p.more:
                break
        await a.aclose()
        return ids, cur

    ids, cur = asyncio.run(go())
    assert ids == list(range(1, 24))
    assert cur.token is None and cur.modified.timestamp() == 1_700_000_023


def test_cross_origin_next_link_refused():
    async def go():
        a = adapter("evil")
        p = await a.read_changes(ObjectRef("items"), ChangeCursor(), overlap_seconds=0, limit=10)
        with pytest.raises(PermanentError):
            await a.read_changes(ObjectRef("items"), p.cursor, overlap_seconds=0, limit=10)
        await a.aclose()

    asyncio.run(go())
