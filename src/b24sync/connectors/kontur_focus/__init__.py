"""Kontur.Focus party lookup (``/api3/req``) over httpx.

Facts (erp-side.md §6, [FOCUS-CL]): base ``https://focus-api.kontur.ru/api3/``; GET with the key in the ``key``
query parameter and the subject in ``inn=`` / ``ogrn=``; the answer is a JSON array, one element per subject,
empty when nothing is found; each element has ``inn``, ``ogrn`` and either ``UL`` (company) or ``IP`` (sole
trader); dates ``YYYY-MM-DD``; "active" = ``status.statusString`` with the boolean flags absent/false.
Errors as client libraries map them: 401/403 bad or blocked key, 429 with ``Retry-After``, 5xx.
"""

from b24sync.connectors.kontur_focus.lookup import FocusLookup, aclose_clients, from_config, parties_from_req

__all__ = ["FocusLookup", "aclose_clients", "from_config", "parties_from_req"]
