"""Texts managers and finance read are Russian (product rule): every example, starter and demo-block spec names its
spec, systems, entities, field mappings, match keys and requisite-check labels in Russian — they show up in timeline
notes («запись ожидает (…)»), hold reasons, the console overview and `spec render`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from b24sync.messages import label as message_label

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted({*ROOT.glob("examples/*.yaml"), *(ROOT / "src/b24sync/spec/starters").glob("*.yaml"),
                *(ROOT / "src/b24sync/flows/demo").glob("*.yaml")})
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _texts(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """(where, text) for every human-facing name in a spec tree: `name`/`description` at the top, every `title`
    (systems, entities, fields, match keys, smart-process names) and every requisite check's `label`."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key == "title" and isinstance(value, str):
                yield here, value
            elif key == "label" and isinstance(value, str):
                yield here, message_label(value)
            else:
                yield from _texts(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _texts(item, f"{where}[{i}]")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_title_a_manager_reads_is_russian(path: Path) -> None:
    doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    texts = list(_texts(doc, path.name))
    if isinstance(doc, dict):
        texts += [(f"{path.name}.{k}", doc[k]) for k in ("name", "description") if isinstance(doc.get(k), str)]
    assert texts, path
    english = [(where, text) for where, text in texts if not CYRILLIC.search(text)]
    assert not english, english
