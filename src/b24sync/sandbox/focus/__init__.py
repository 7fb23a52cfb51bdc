"""Emulation of the Kontur.Focus API ``/api3/req`` as documented by public clients, for tests and demos.

NOT Kontur.Focus: an emulator of the shapes in /work/shared/research/erp-side.md §6 — GET with ``key`` in the
query string, ``inn=`` / ``ogrn=`` (comma-separated lists accepted), a JSON array with ``UL`` or ``IP`` objects,
an empty array when nothing is found, ``YYYY-MM-DD`` dates, ``status{statusString, dissolving, dissolved, …}``.
Vendor error bodies and rate limits are not public (§6, §13): 401/403/429 bodies here are plain text guesses;
the daily quota is emulated as 403 (a "blocked key" in the clients' vocabulary) — an assumption.
"""

from b24sync.sandbox.focus.app import create_app

__all__ = ["create_app"]
