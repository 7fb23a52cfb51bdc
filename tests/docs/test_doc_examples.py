"""Issue 12.12: every YAML and shell example in README.md and docs/*.md is checked, so the docs cannot go stale
silently.

* A YAML block must parse. A block that is a whole spec (it has ``systems:`` and ``entities:``) must pass
  ``spec validate`` (unset ``${VARS}`` filled with placeholders) — what validates must run, so connector configs in
  the docs are held to the same checks as the examples.
* A block that is deliberately a fragment says so with ``<!-- docs-test: partial -->`` on the line before the fence;
  it is only parsed. ``<!-- docs-test: skip -->`` skips a block (output samples, not input).
* A shell block must pass ``bash -n``, and every ``b24sync ...`` command in it must name a real command: its
  ``--help`` exits 0 (the command path up to the first argument that is not a sub-command).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from b24sync.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)[^\n]*\n(?P<body>.*?)\n```", re.S)
MARK = re.compile(r"<!--\s*docs-test:\s*(partial|skip)\s*-->")


def blocks(lang: tuple[str, ...]) -> list[tuple[str, int, str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer("\n" + text):
            if m.group("lang") in lang:
                line = text[:max(0, m.start("body") - 1)].count("\n") + 1
                mark = MARK.search(m.group("before"))
                out.append((f"{doc.relative_to(ROOT)}:{line}", line, m.group("body"), mark.group(1) if mark else ""))
    return out


YAML_BLOCKS = blocks(("yaml", "yml"))
SH_BLOCKS = blocks(("sh", "bash", "shell", "console"))


@pytest.mark.parametrize("where,line,body,mark", YAML_BLOCKS, ids=[b[0] for b in YAML_BLOCKS])
def test_yaml_example_parses_and_a_whole_spec_validates(where: str, line: int, body: str, mark: str,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if mark == "skip":
        pytest.skip("marked docs-test: skip")
    env = {v: _placeholder(v) for v in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", body)}
    # Parsed as the spec loader parses (${VARS} kept as text, so `{url: ${URL}}` in flow style is fine), then
    # substituted inside the parsed strings as the loader does.
    from b24sync.spec.loader import load_plain

    data = _substitute(load_plain(body), env)
    if mark == "partial":
        return
    if isinstance(data, dict) and isinstance(data.get("systems"), dict):
        for var in _env_names(data["systems"]):  # `value_env: ERP_API_KEY`: the secret a reader exports
            monkeypatch.setenv(var, _placeholder(var))
        _systems_build(where, data["systems"])
    if not (isinstance(data, dict) and "systems" in data and "entities" in data):
        return
    from b24sync.spec.loader import check_spec

    f = tmp_path / "spec.yaml"
    f.write_text(body, encoding="utf-8")
    spec, problems = check_spec(f, env)
    assert spec is not None and not problems, f"{where}: " + "; ".join(map(str, problems))
    from b24sync.cli.spec import _runnable_problems

    assert not _runnable_problems(f, spec), where


def _env_names(node) -> list[str]:  # type: ignore[no-untyped-def]
    """The variables a config names by `…_env: NAME` (read by the connector from the environment)."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if str(k).endswith("_env") and isinstance(v, str)] + [
            n for v in node.values() for n in _env_names(v)]
    if isinstance(node, list):
        return [n for v in node for n in _env_names(v)]
    return []


def _substitute(node, env):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        return {k: _substitute(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, env) for v in node]
    if isinstance(node, str):
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", lambda m: env[m.group(1)], node)
    return node


def _placeholder(var: str) -> str:
    """A value of the right shape for a ${VAR} a doc leaves to the environment."""
    if "WEBHOOK" in var:
        return "https://portal.example.ru/rest/1/docsexamplecode1/"
    if var.endswith("URL"):
        return "https://erp.example.ru/base/odata/standard.odata/"
    return f"docs-{var.lower()}"


def _systems_build(where: str, systems: dict) -> None:  # type: ignore[type-arg]
    """Every system a doc shows must build with the keys it shows (a key its connector ignores, a nested
    `config:`, fails here, not at the reader's first run). Nothing connects: adapters open connections lazily."""
    from b24sync.connectors.registry import build_adapter, known_types

    for name, cfg in systems.items():
        if not isinstance(cfg, dict) or cfg.get("type") not in set(known_types()):
            continue
        conf = {k: v for k, v in cfg.items() if k not in ("type", "role", "title")}
        try:
            build_adapter(name, cfg["type"], conf)
        except Exception as e:  # noqa: BLE001 - the message is the assertion
            if "SyncError" in [c.__name__ for c in type(e).__mro__] or isinstance(e, (KeyError, ValueError, TypeError)):
                raise AssertionError(f"{where}: system {name} does not build: {e}") from e
            raise


def _commands(body: str) -> list[list[str]]:
    out = []
    for raw in body.replace("\\\n", " ").splitlines():
        line = raw.strip().removeprefix("$ ")
        for part in re.split(r"&&|\|\||;|\|", line):
            words = part.strip().split()
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                words = words[1:]  # VAR=value b24sync ...
            if words and words[0] == "b24sync":
                try:
                    out.append(shlex.split(" ".join(words))[1:])
                except ValueError:
                    out.append(words[1:])
    return out


@pytest.mark.parametrize("where,line,body,mark", SH_BLOCKS, ids=[b[0] for b in SH_BLOCKS])
def test_shell_example_is_valid_and_names_real_commands(where: str, line: int, body: str, mark: str) -> None:
    if mark == "skip":
        pytest.skip("marked docs-test: skip")
    script = "\n".join(ln.strip().removeprefix("$ ") for ln in body.splitlines())
    p = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert p.returncode == 0, f"{where}: {p.stderr}"
    runner = CliRunner()
    for args in _commands(body):
        path: list[str] = []
        for a in args:
            if a.startswith("-") or "/" in a or "." in a or "$" in a:
                break
            trial = runner.invoke(app, [*path, a, "--help"])
            if trial.exit_code != 0:
                break
            path.append(a)
            if "Commands" not in trial.output:
                break  # a leaf command: the rest are its arguments
        assert path, f"{where}: `b24sync {' '.join(args)}` — no such command"
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0, f"{where}: `b24sync {' '.join(path)} --help` failed"
