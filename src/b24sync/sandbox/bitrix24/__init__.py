"""Faithful local emulator of a Bitrix24 cloud portal's REST API (see docs/sandbox-bitrix24.md)."""

from .clock import ManualClock, SystemClock
from .sandbox import Bitrix24Sandbox

__all__ = ["Bitrix24Sandbox", "ManualClock", "SystemClock"]
