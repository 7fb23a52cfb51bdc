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
def validate(file: Path = typer.Argument(..., help="The spec (YAML)")) -> None:
    """Exit 0 if the spec is valid; else print every problem as FILE:LINE: what — how to fix, and exit 2."""
    spec, problems = check_spec(file)
    if spec is not None:
        problems = [*problems, *_runnable_problems(file, spec)]
    if problems:
        for p in problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(2)
    assert spec is not None
    console.print(f"{file}: ok — {len(spec.systems)} systems, {len(spec.entities)} entities", markup=False)


@app.command()
def render(file: Path = typer.Argument(..., help="The spec (YAML)"),
           out: Path | None = typer.Option(None, "--out", "-o", help="Write the Markdown here instead of stdout"),
           lenient_env: bool = typer.Option(True, help="Render even if ${VARS} are not set (their values are not shown)")) -> None:
    """Markdown for people: systems, entities, field mappings with owners, rules and a mermaid flow diagram."""
    env = _placeholder_env(file) if lenient_env else None
    spec, problems = check_spec(file, env)
    if problems or spec is None:
        for p in problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(2)
    text = render_markdown(spec)
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
