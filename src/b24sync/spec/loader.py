"""Loading a spec file: YAML with line numbers, ``${ENV_VAR}`` interpolation, then the models and the checks.

``${...}`` is substituted inside the parsed strings, never into the raw text: the text is parsed with each
``${...}`` standing as a plain token (``EnvText``), so ``{url: ${URL}}`` in flow style parses, and a value from
the environment (a password with ``: `` or ``}``) cannot change the document's structure.

Every problem is reported as ``FILE:LINE: what is wrong — how to fix``, with the line taken from the YAML,
so a person can jump straight to it. All problems are collected; loading never stops at the first one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from b24sync.spec.checks import check_semantics
from b24sync.spec.models import Defaults, Entity, Spec, SystemSpec, route_expansions

Path_ = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class SpecProblem:
    file: str
    line: int
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what} — {self.fix}"


class SpecError(Exception):
    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class LineMap:
    """Path in the document -> 1-based line number."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {(): 1}

    def record(self, node: Any, path: Path_ = ()) -> None:
        if isinstance(node, CommentedMap):
            for key in node:
                line = node.lc.key(key)[0] + 1
                self.lines[path + (str(key),)] = line
                self.record(node[key], path + (str(key),))
        elif isinstance(node, CommentedSeq):
            for i, item in enumerate(node):
                self.lines[path + (i,)] = node.lc.item(i)[0] + 1
                self.record(item, path + (i,))

    def alias_routes(self, routed: dict[str, list[str]]) -> None:
        """The entities a route made (``NAME@SYSTEM``, spec/models.py) have the lines of the entity as written."""
        for base, systems in routed.items():
            prefix = ("entities", base)
            for path, line in list(self.lines.items()):
                if path[:2] == prefix:
                    for system in systems:
                        self.lines.setdefault(("entities", f"{base}@{system}") + path[2:], line)

    def line_for(self, loc: Path_) -> int:
        best: Path_ = ()
        cur: Path_ = ()
        for part in loc:
            cand = cur + (part,)
            if cand in self.lines:
                cur = cand
                best = cur
            # parts that are not in the document (pydantic's union tags, model names) are skipped
        return self.lines[best]


# A ``${NAME}`` / ``${NAME:-default}`` as it may stand in the raw text (one line: a default never spans lines).
_ENV_RAW = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}\n]*)?\}")


class EnvText:
    """The raw text with every ``${...}`` replaced by a token that is a plain YAML word, so flow style
    (``{url: ${URL}}`` — ``{`` and ``}`` are flow indicators) parses like block style; ``restore`` puts the
    ``${...}`` back into the parsed strings, where ``interpolate`` substitutes them. The environment is never
    pasted into the text: a value with ``: ``, ``#`` or ``}`` cannot change the document's structure, and lines
    stay where they were (a token replaces text within its line)."""

    def __init__(self, text: str) -> None:
        import secrets

        nonce = secrets.token_hex(4)
        while nonce in text:
            nonce = secrets.token_hex(4)
        self._found: list[str] = []
        self._prefix = f"b24syncenv{nonce}n"
        self._token = re.compile(re.escape(self._prefix) + r"(\d+)z")

        def keep(m: re.Match[str]) -> str:
            self._found.append(m.group(0))
            return f"{self._prefix}{len(self._found) - 1}z"

        self.text = _ENV_RAW.sub(keep, text)

    def restore(self, value: str) -> str:
        if not self._found or self._prefix not in value:
            return value
        return self._token.sub(lambda m: self._found[int(m.group(1))], value)


def parse_yaml(text: str) -> tuple[Any, EnvText]:
    """Round-trip parse of a spec's text with its ``${...}`` kept as text (see ``EnvText``); MarkedYAMLError
    propagates. The parsed strings still hold tokens: pass them through ``_plain(doc, env_text.restore)``."""
    env_text = EnvText(text)
    return YAML(typ="rt").load(env_text.text), env_text


def load_plain(text: str) -> Any:
    """A spec's text as plain dicts, lists and scalars, ``${...}`` left unsubstituted (for a quick look at its
    shape, e.g. "is this a spec or a requirements file")."""
    doc, env_text = parse_yaml(text)
    return _plain(doc, env_text.restore)


def _plain(node: Any, restore: Any = None) -> Any:
    if isinstance(node, Mapping):
        return {(restore(str(k)) if restore else str(k)): _plain(v, restore) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, restore) for v in node]
    if restore is not None and isinstance(node, str):
        return restore(str(node))
    return node


def interpolate(node: Any, env: Mapping[str, str], lines: LineMap, file: str, problems: list[SpecProblem],
                path: Path_ = (), *, unset: list[SpecProblem] | None = None) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in string values from the environment (only there: no secrets
    in files). An unset variable without a default is a problem at its line — or, when ``unset`` is given (a
    structural check without credentials), a warning collected there while the ``${NAME}`` text is kept."""
    if isinstance(node, dict):
        return {k: interpolate(v, env, lines, file, problems, path + (k,), unset=unset) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, lines, file, problems, path + (i,), unset=unset) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problem = SpecProblem(
            file, lines.line_for(path), f"${{{name}}} is not set in the environment",
            f"export {name}=… before running b24sync (secrets live only in the environment), "
            f"or give a default as ${{{name}:-value}}")
        if unset is not None:
            unset.append(problem)
            return m.group(0)
        problems.append(problem)
        return ""

    return _ENV.sub(repl, node)


_HINTS: dict[str, str] = {
    "match": "add `match: [{crm: RQ_INN, erp: ИНН}]` so a record is found on the other side before anything is "
             "created (without a match key every run could create duplicates)",
    "master": "add `master: erp` (or crm): the system whose data wins",
    "direction": "add `direction: erp_to_crm`, `crm_to_erp` or `both`",
    "crm": "say where the record lives in the CRM, e.g. `crm: {object: crm.company}`",
    "erp": "say where the record lives in the ERP, e.g. `erp: {object: Catalog_Контрагенты}`",
    "systems": "list the systems, e.g. `systems: {bitrix24: {type: bitrix24, role: crm, webhook_url: ${B24_WEBHOOK_URL}}}`",
    "entities": "list at least one entity under `entities:`",
    "name": "give the integration a name, e.g. `name: Acme — Bitrix24 ⇄ 1C:UT`",
    "type": "set the connector type, e.g. `type: bitrix24` or `type: 1c-odata`",
    "role": "set `role: crm`, `role: erp` or `role: service`",
    "object": "name the object, e.g. `object: crm.company`",
    "owner": "use `owner: crm`, `owner: erp` or `owner: both`",
}


def _pydantic_problem(err: dict[str, Any], file: str, lines: LineMap) -> SpecProblem:
    loc: Path_ = tuple(err["loc"])
    where = ".".join(str(p) for p in loc if not (isinstance(p, str) and p[:1].isupper()))
    key = next((str(p) for p in reversed(loc) if isinstance(p, str) and not p[:1].isupper()), "")
    etype = err["type"]
    line = lines.line_for(loc)
    if etype == "missing":
        return SpecProblem(file, line, f"`{key}` is missing in {where.rsplit('.', 1)[0] or 'the spec'}",
                           _HINTS.get(key, f"add `{key}:`"))
    if etype == "extra_forbidden":
        return SpecProblem(file, lines.line_for(loc), f"unknown key `{key}` in {where.rsplit('.', 1)[0] or 'the spec'}",
                           "remove it or check its spelling (`b24sync spec schema` lists every key)")
    if etype == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return SpecProblem(file, line, f"{where} is {err.get('input')!r}",
                           _HINTS.get(key, f"use one of {expected}") if key in ("owner",) else f"use one of {expected}")
    if etype == "unknown_transform":
        return SpecProblem(file, line, f"{where}: {err['msg']}", "write e.g. `transform: {map: {ERP value: CRM value}}`, "
                           "`{table: order_status}`, `{scale: 1000}`, `{normalize: phone}` or `{type: bool}`")
    msg = err["msg"].removeprefix("Value error, ")
    return SpecProblem(file, line, f"{where}: {msg}", _HINTS.get(key, "see `b24sync spec schema` for the allowed values"))


def line_map(path: str | Path) -> LineMap:
    """Spec path -> line for a file that loads (used to point live-system checks at their line)."""
    lines = LineMap()
    try:
        doc, _ = parse_yaml(Path(path).read_text(encoding="utf-8"))
    except (OSError, MarkedYAMLError, UnicodeDecodeError):
        return lines
    lines.record(doc)
    if isinstance(doc, dict) and isinstance(doc.get("entities"), dict):
        lines.alias_routes(route_expansions(_plain(doc["entities"])))
    return lines


def load_spec(path: str | Path, env: Mapping[str, str] | None = None) -> Spec:
    """Load and check a spec file; raise ``SpecError`` with every problem found."""
    spec, problems = check_spec(path, env)
    if problems or spec is None:
        raise SpecError(problems)
    return spec


def check_spec(path: str | Path, env: Mapping[str, str] | None = None, *,
               unset: list[SpecProblem] | None = None) -> tuple[Spec | None, list[SpecProblem]]:
    """The spec and every problem. With ``unset`` (a list), a ``${VAR}`` missing from the environment is not a
    problem but a warning appended there — the structure is checked without credentials (``spec validate``)."""
    file = str(path)
    env = os.environ if env is None else env
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        return None, [SpecProblem(file, 1, f"cannot read the file ({e.strerror})", "check the path")]
    except UnicodeDecodeError:
        return None, [SpecProblem(file, 1, "the file is not UTF-8", "save it as UTF-8")]
    from b24sync.spec.guard import GuardProblem, check_text

    env_text = EnvText(text)
    try:
        check_text(env_text.text)
    except GuardProblem as g:
        return None, [SpecProblem(file, g.line, g.message, g.hint)]
    try:
        doc = YAML(typ="rt").load(env_text.text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        what = f"YAML syntax error: {e.problem or e.context}"
        return None, [SpecProblem(file, line, what, "fix the indentation or quoting on this line (a value with `: ` "
                                                    "or `#` needs quotes; lists need `- `)")]
    if not isinstance(doc, CommentedMap):
        return None, [SpecProblem(file, 1, "the spec is not a YAML mapping", "start with `name:`, `systems:` and `entities:`")]
    lines = LineMap()
    lines.record(doc)
    problems: list[SpecProblem] = []
    data = interpolate(_plain(doc, env_text.restore), env, lines, file, problems, unset=unset)
    if isinstance(data, dict) and isinstance(data.get("entities"), dict):
        lines.alias_routes(route_expansions(data["entities"]))  # `order@onec_a` points at `order`'s lines
    try:
        spec = Spec.model_validate(data)
    except PydanticValidationError as e:
        problems.extend(_pydantic_problem(err, file, lines) for err in e.errors())  # type: ignore[arg-type]
        # Keep going on the parts that are valid, so one run reports every problem, not just the first kind.
        problems.extend(check_semantics(_partial_spec(data), file, lines))
        return None, _sorted(problems)

    problems.extend(check_semantics(spec, file, lines))
    return (spec if not problems else None), _sorted(problems)


def _partial_spec(data: Any) -> Spec:
    """The valid systems and entities of a spec that failed validation as a whole."""

    def valid(model: type, items: Any) -> dict[str, Any]:
        out = {}
        for key, value in (items or {}).items() if isinstance(items, dict) else []:
            try:
                out[key] = model.model_validate(value)
            except PydanticValidationError:
                pass
        return out

    data = data if isinstance(data, dict) else {}
    maps = data.get("value_maps")
    return Spec.model_construct(
        name=str(data.get("name", "")), systems=valid(SystemSpec, data.get("systems")), defaults=Defaults(),
        value_maps=maps if isinstance(maps, dict) else {}, entities=valid(Entity, data.get("entities")))


def _sorted(problems: list[SpecProblem]) -> list[SpecProblem]:
    seen: set[str] = set()
    out = []
    for p in sorted(problems, key=lambda p: p.line):
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out
