"""Shared fixtures. The store and queue tests run on SQLite and on the local PostgreSQL (db `test`)."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

# Property tests judge results, not speed: on a machine shared by 4 test processes (2 cores) Hypothesis' per-example
# deadline and its too-slow health check failed tests whose every example was right. Tests inherit this profile.
# `make test` draws the same examples every run (derandomize), so CI passes or fails on the code, not on the draw;
# HYPOTHESIS_PROFILE=explore draws new ones (run it to look for bugs, then pin what it finds as an example).
settings.register_profile("b24sync", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "b24sync"))

PG_URL = os.environ.get("B24SYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def reachable(url: str) -> bool:
    """Whether a database answers ``select 1`` within 3 s."""
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


PG_OK = reachable(PG_URL)
# CI must not silently skip the PostgreSQL half: there, a missing server is a failure.
if os.environ.get("CI") and not PG_OK:
    raise RuntimeError(f"PostgreSQL is not reachable at {PG_URL}; the store tests must run on it in CI")


@contextmanager
def pg_schema(prefix: str = "t") -> Iterator[str]:
    """A private schema in the local PostgreSQL (a URL whose search_path points at it), dropped afterwards."""
    if not PG_OK:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty store database: a SQLite file, or a private schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state.db"
        return
    with pg_schema() as url:
        yield url


# Scheduling for `make test` (-n 4 --dist loadgroup --no-loadscope-reorder): a file is one unit of work, so its
# module fixtures are shared, except that each variant of a parametrized test marked `slow` is a unit of its own
# (the PostgreSQL and SQLite halves of a crash test run side by side). Units are handed out longest first by the
# seconds `slow(N)` estimates for an idle machine (a scheduling hint only, never asserted), so the longest ones
# never start last; order inside a file is kept.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups: dict[str, str] = {}
    weight: dict[str, float] = {}
    for item in items:
        slow = item.get_closest_marker("slow")
        group = item.nodeid.split("::", 1)[0]
        if slow is not None and hasattr(item, "callspec"):
            group = item.nodeid
        groups[item.nodeid] = group
        if slow is not None:
            weight[group] = weight.get(group, 0.0) + float(slow.args[0] if slow.args else 10)
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda i: -weight.get(groups[i.nodeid], 0.0))
