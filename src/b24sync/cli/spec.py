"""``b24sync spec validate|render|schema``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from b24sync.cli.common import console
from b24sync.spec.loader import SpecProblem, check_spec
from b24sync.spec.models import Spec
from b24sync.spec.render import render_markdown

app = typer.Typer(help="Validate, render and describe integration specs.", no_args_is_help=True)


@app.command()
def validate(file: Path = typer.Argument(..., help="The spec (YAML)"),
             env: bool = typer.Option(False, "--env", help="Also require every ${VAR} the spec names to be set "
                                      "(as `b24sync run` does); without it unset variables are only warnings")) -> None:
    """Check a spec's structure: exit 0 if it is valid, else print every problem as FILE:LINE: what — how to fix
    and exit 2. Unset ${VARS} are warnings (the structure is checked without credentials); with --env they are
    errors. Warnings (also: webhook triggers without event tokens) never change the exit code."""
    unset: list[SpecProblem] | None = None if env else []
    spec, problems = check_spec(file, unset=unset)
    if spec is not None:
        problems = [*problems, *_runnable_problems(file, spec)]
    warnings = [*(unset or []), *(spec_warnings(file, spec) if spec is not None else [])]
    for p in sorted([*problems, *warnings], key=lambda p: p.line):
        typer.echo(f"{p.file}:{p.line}: warning: {p.what} — {p.fix}" if p in warnings else str(p), err=True)
    if problems:
        raise typer.Exit(2)
    assert spec is not None
    note = f", {len(warnings)} warning(s)" if warnings else ""
    console.print(f"{file}: ok — {len(spec.systems)} systems, {len(spec.entities)} entities{note}", markup=False)


@app.command()
def render(file: Path = typer.Argument(..., help="The spec (YAML)"),
           out: Path | None = typer.Option(None, "--out", "-o", help="Write the Markdown here instead of stdout"),
           lenient_env: bool = typer.Option(True, help="Render even if ${VARS} are not set (their values are not shown)"),
           locale: str | None = typer.Option(None, help="ru | en (default: the spec's `locale:`, else ru)")) -> None:
    """Markdown for people: systems, entities, field mappings with owners, rules and a mermaid flow diagram."""
    env = _placeholder_env(file) if lenient_env else None
    spec, problems = check_spec(file, env)
    if problems or spec is None:
        for p in problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(2)
    text = render_markdown(spec, locale=locale)
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        typer.echo(text, nl=False)


@app.command()
def schema() -> None:
    """JSON Schema of the spec, for editor completion (e.g. yaml-language-server)."""
    s = Spec.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "b24sync integration spec"
    typer.echo(json.dumps(s, ensure_ascii=False, indent=2))


def _runnable_problems(file: Path, spec: Spec) -> list[SpecProblem]:
    """A system type that validates must run: a type with no connector in this installation is an error."""
    from b24sync.connectors.registry import known_types

    known = set(known_types())
    lines = file.read_text(encoding="utf-8").splitlines()
    out = []
    for name, system in spec.systems.items():
        if system.type in known:
            continue
        line = next((i for i, t in enumerate(lines, 1) if re.match(rf"\s*type:\s*['\"]?{re.escape(system.type)}\b", t)), 1)
        out.append(SpecProblem(str(file), line, f"system {name}: no connector for type {system.type!r} in this "
                               "installation", f"use one of {', '.join(sorted(known))}"))
    return out


def spec_warnings(file: Path, spec: Spec) -> list[SpecProblem]:
    """What validates but will not work as the author expects (never an error).

    * a ``webhook:`` trigger on a Bitrix24 system with no ``event_tokens`` / ``application_token`` (and no
      ``B24SYNC_B24_APP_TOKEN``): the intake refuses every event with 401 (server/bitrix24_events.py), so the
      entity would only sync on its polls.
    """
    import os

    from b24sync.server.bitrix24_events import _tokens

    text = file.read_text(encoding="utf-8").splitlines()
    out: list[SpecProblem] = []
    for ename, entity in spec.entities.items():
        hooks = [t.webhook for t in entity.triggers if t.webhook]
        system_name = spec.system_for(entity, "crm")
        system = spec.systems.get(system_name)
        if not hooks or system is None or system.type != "bitrix24":
            continue
        cfg = system.config()
        if cfg.get("event_tokens") or cfg.get("application_token") or cfg.get("oauth") or _tokens(cfg) \
                or os.environ.get("B24SYNC_B24_APP_TOKEN"):
            continue
        line = next((i for i, t in enumerate(text, 1) if re.search(rf"webhook:\s*['\"]?{re.escape(hooks[0])}\b", t)), 1)
        out.append(SpecProblem(str(file), line,
                               f"entity {ename} has webhook triggers ({', '.join(hooks)}) but system {system_name} "
                               "has no event_tokens, so the intake refuses every Bitrix24 event (401)",
                               f"add `event_tokens: [\"${{B24_EVENT_TOKEN}}\"]` under systems.{system_name} (the "
                               "application token of the outgoing webhook; docs/spec.md, \"Bitrix24 events\")"))
    return out


def _placeholder_env(file: Path) -> dict[str, str]:
    """The environment, with every ${VAR} the file names filled in so a document can be rendered anywhere."""
    import os
    import re

    env = dict(os.environ)
    try:
        for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", file.read_text(encoding="utf-8")):
            env.setdefault(name, f"<{name}>")
    except OSError:
        pass
    return env
