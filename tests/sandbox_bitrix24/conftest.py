from __future__ import annotations

import pytest

from b24sync.sandbox.bitrix24 import Bitrix24Sandbox, ManualClock


@pytest.fixture
def sandbox():
    sb = Bitrix24Sandbox(rate=None)  # no rate limit unless a test wants one
    sb.start()
    yield sb
    sb.close()


@pytest.fixture
def manual_sandbox():
    clock = ManualClock()
    sb = Bitrix24Sandbox(clock=clock, rate=2.0, burst=50)
    sb.start()
    yield sb, clock
    sb.close()
