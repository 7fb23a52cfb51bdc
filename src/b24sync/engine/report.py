"""What a pass did, in words a person reads: the job outcomes (``created``, ``not_found``, ...) with what each means,
for the CLI's summaries (demo, rehearse, run) — never a Python dict on the screen."""

from __future__ import annotations

from collections.abc import Mapping

# Every outcome a handler returns (engine/sync.py and the flows), with its meaning.
MEANING: dict[str, str] = {
    "created": "created on the other side",
    "updated": "changed on the other side",
    "linked": "paired with an existing record by a match key (nothing duplicated)",
    "recreated": "re-created: the linked record had been deleted on the other side",
    "relinked": "paired by a match key with a record whose old partner no longer exists (a re-created base)",
    "reverted": "a manual edit of a field the other system owns was put back",
    "unchanged": "read, nothing to write (already equal)",
    "echo": "our own earlier write coming back: ignored",
    "skipped": "left alone by a rule (a skip_if guard, a direction that does not flow, nothing to do)",
    "filled": "requisites filled from the state register by INN",
    "checked": "INN checked in the state register; the requisites were already filled",
    "not_found": "INN not in the state register (DaData / Kontur.Focus): nothing filled, the manager got a comment",
    "dead": "could not be synced: parked with its reason (`b24sync dead`), replayable after a fix",
    "held": "waits for a person (a guard's message is on the record's timeline)",
    "retried": "failed for a temporary reason and was retried",
    # sums over related documents (engine/aggregate.py) and files (engine/files.py)
    "recorded": "a document (payment, shipment) counted into the sums of the records it names",
    "duplicate": "the same document again (same payer's number, date, payer and amount): counted once",
    "reversed": "a document that no longer counts (unposted, marked for deletion, storno): its amount taken back",
    "files": "a file from the ERP put on the CRM record (once per version)",
}


# Outcomes whose name alone does not say enough: glossed inline wherever counts are printed.
GLOSS: dict[str, str] = {"not_found": "INN not in the state register, nothing filled",
                         "echo": "our own writes coming back", "skipped": "left alone by a rule"}


def actions_text(actions: Mapping[str, int]) -> str:
    """``updated 31, not_found 30 (INN not in the state register, nothing filled)`` — sorted by count; ``no writes``
    when empty."""
    items = sorted(((k, v) for k, v in actions.items() if v), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v}" + (f" ({GLOSS[k]})" if k in GLOSS else "") for k, v in items) or "no writes"


def explained(actions: Mapping[str, int]) -> list[tuple[str, int, str]]:
    """(outcome, count, meaning) for each outcome that occurred, largest first."""
    items = sorted(((k, v) for k, v in actions.items() if v), key=lambda kv: (-kv[1], kv[0]))
    return [(k, v, MEANING.get(k, "")) for k, v in items]
