"""Emulation of the documented DaData Suggestions API (party lookup), for tests and demos.

NOT DaData: an emulator of the shapes described in /work/shared/research/erp-side.md §7 — ``findById/party`` and
``suggest/party`` with ``{"suggestions": [{"value", "unrestricted_value", "data": {...}}]}``, epoch-millisecond
dates, ``state.status`` values, ``branch_type`` MAIN/BRANCH, ``Authorization: Token`` auth with the 401 body, the
daily quota as 403 ``Feature 'SUGGESTIONS' disabled for token …``, plus fault injection (5xx/429, latency).
"""

from b24sync.sandbox.dadata.app import create_app

__all__ = ["create_app"]
