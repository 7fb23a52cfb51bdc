"""Exchange databases on the local PostgreSQL and MariaDB (127.0.0.1:5432 db test, 127.0.0.1:3306 root) — each
test gets a private schema / database, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import pg_schema, reachable

MARIADB_URL = os.environ.get("B24SYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")


MARIADB_OK = reachable(MARIADB_URL)
if os.environ.get("CI") and not MARIADB_OK:
    raise RuntimeError(f"MariaDB is not reachable at {MARIADB_URL}; the SQL connector must be tested on it in CI")


@pytest.fixture(params=["postgres", "mariadb"])
def exchange_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "postgres":
        with pg_schema("x") as url:
            yield url
        return
    name = f"x_{uuid.uuid4().hex[:12]}"
    if not MARIADB_OK:
        pytest.skip(f"MariaDB not reachable at {MARIADB_URL}")
    admin = create_engine(MARIADB_URL)
    with admin.begin() as c:
        c.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    yield MARIADB_URL.rsplit("/", 1)[0] + f"/{name}?charset=utf8mb4"
    with admin.begin() as c:
        c.execute(text(f"DROP DATABASE `{name}`"))
    admin.dispose()
