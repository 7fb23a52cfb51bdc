"""Hostile spec files (issue 11): `spec validate` answers every one with FILE:LINE problems (exit 2) or accepts it
(exit 0) — never a traceback, never a hang, nothing constructed from a tag. A fuzz of ≥ 1,000 mutations of the
shipped examples, each checked in-process under a time bound, and the named attacks through the CLI."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from b24sync.spec.loader import check_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def _laughs() -> str:
    s = "name: x\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 10):
        s += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    return s


ATTACKS = {
    "python object apply": "name: x\nsystems: !!python/object/apply:os.system [\"touch /tmp/b24sync-pwned\"]\n",
    "python new": "name: !!python/object/new:os.system [\"touch /tmp/b24sync-pwned\"]\n",
    "local new tag": "name: !foo/new x\n",
    "merge key": "base: &b {type: bitrix24}\nname: x\nsystems:\n  crm:\n    <<: *b\n",
    "omap": "name: x\nsystems: !!omap [a: 1]\n",
    "set": "name: x\nsystems: !!set {a, b}\n",
    "binary": "name: !!binary aGVsbG8=\n",
    "5000-digit int": "name: x\nversion: " + "9" * 5000 + "\n",
    "3000-level nesting": "name: x\nsystems: " + "[" * 3000 + "]" * 3000 + "\n",
    "3000-level block nesting": "name: x\n" + "".join("  " * i + f"k{i}:\n" for i in range(3000)),
    "NUL": "name: x\x00\n",
    "ESC": "name: \x1b[31mx\n",
    "billion laughs": _laughs(),
    "alias as key": "a: &k name\n*k : x\n",
    "huge file": "name: x\n" + "# filler\n" * 150_000,
    "not a mapping": "- a\n- b\n",
    "empty": "",
    "tab indentation": "name: x\nsystems:\n\tcrm: {}\n",
    "unclosed quote": "name: 'x\n",
    "duplicate keys": "name: x\nname: y\n",
    "bad utf-8 in scalar": "name: \udcff\n",
}


def _line_ok(problems, text: str) -> bool:
    n = text.count("\n") + 2
    return all(isinstance(p.line, int) and 1 <= p.line <= n and p.file and str(p).startswith(f"{p.file}:{p.line}:")
               for p in problems)


def _check(tmp: Path, text: str | bytes, bound: float = 3.0):
    f = tmp / "spec.yaml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogateescape"))
    # CPU seconds, not wall time: a hang or a blow-up still trips it, other processes on a loaded machine do not
    t0 = time.process_time()
    spec, problems = check_spec(f, env={}, unset=[])
    took = time.process_time() - t0
    assert took < bound, took
    return spec, problems


@pytest.mark.parametrize("name", list(ATTACKS))
def test_named_attacks_give_file_line(tmp_path, name):
    text = ATTACKS[name]
    spec, problems = _check(tmp_path, text)
    assert spec is None and problems, name
    assert _line_ok(problems, text), [str(p) for p in problems]
    assert not Path("/tmp/b24sync-pwned").exists()


@pytest.mark.parametrize("name", ["python object apply", "billion laughs", "3000-level nesting"])
def test_cli_exit_2_with_file_line_no_traceback(tmp_path, name):
    f = tmp_path / "spec.yaml"
    f.write_text(ATTACKS[name], encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "spec", "validate", str(f)], capture_output=True,
                       text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert f"{f}:" in out and "Traceback" not in out, out


SNIPPETS = ["!!python/object/apply:os.system [x]", "!!omap [a: 1]", "<<: *a", "&a [1, 2]", "*a", "*nope", "[" * 200,
            "{" * 200, "9" * 5000, "\x00", "\x1b", "'unclosed", "\"\\x", "? complex\n: key", "- - - -", "!!binary xx",
            "!x y", "%YAML 1.1", "---", "...", ": :", "\t", "key: [1, {a: *a}]", "${", "${UNSET_VAR}", "null",
            "~", "[]", "{}", "0x" + "f" * 300, "1e999", "-.inf", ".nan", "\ufeff", "\u2028", "\U0001F600" * 50]


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        i = rng.randrange(len(lines)) if lines else 0
        if op == 0 and lines:
            del lines[i]
        elif op == 1 and lines:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            indent = " " * rng.choice([0, 2, 4, 6, 1, 3])
            lines.insert(i, indent + rng.choice(["k: ", "- ", "", "x: &a "]) + rng.choice(SNIPPETS))
        elif op == 3 and lines and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + rng.choice(SNIPPETS) + lines[i][j + 1:]
        elif op == 4 and lines:
            lines[i] = " " * rng.randint(0, 5) + lines[i].lstrip()
        elif op == 5:
            lines = lines[: rng.randrange(len(lines) + 1)]
        else:
            lines.insert(i, "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 32),
                                                    rng.randrange(0x400, 0x450)])) for _ in range(rng.randint(1, 20))))
    return "\n".join(lines)


SMALL = """version: 1
name: fuzz
systems:
  bitrix24: {type: bitrix24, role: crm, webhook_url: "${B24_WEBHOOK_URL}"}
  onec: {type: 1c-odata, role: erp, url: "http://127.0.0.1:9/odata/", username: u, password: "${P}"}
entities:
  company:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.company}
    erp: {object: Catalog_Контрагенты}
    match: [{crm: UF_CRM_ERP_ID, erp: Ref_Key}]
    link: {crm: UF_CRM_ERP_ID}
    fields:
      - {crm: TITLE, erp: Description}
    triggers: [{poll: 5m}]
"""


def test_fuzz_1000_mutations(tmp_path):
    """ruamel costs ~10 ms a small file, so the fuzz mutates a compact spec (and the smallest example); the named
    attacks above run against the real loader path too."""
    rng = random.Random(11)
    spec, problems = _check(tmp_path, SMALL)
    assert spec is not None and not problems, [str(p) for p in problems]
    bases = [SMALL, min(EXAMPLES, key=lambda p: p.stat().st_size).read_text(encoding="utf-8")]
    counts = {"accepted": 0, "problems": 0}
    for n in range(1000):
        text = _mutate(rng, rng.choice(bases))
        try:
            spec, problems = _check(tmp_path, text)
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - the point: nothing may escape
            raise AssertionError(f"mutation {n} raised {type(e).__name__}: {e}\n---\n{text[:2000]}") from None
        if problems:
            counts["problems"] += 1
            assert _line_ok(problems, text), (n, [str(p) for p in problems][:3])
        else:
            assert spec is not None
            counts["accepted"] += 1
    assert counts["problems"] > 300 and counts["accepted"] > 10, counts
