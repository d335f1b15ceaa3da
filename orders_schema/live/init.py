"""init: start a project from a live database (``orders-schema init``).

The live schema is read back as declarations (:func:`~orders_schema.live.declare.read_declarations`)
and written as a Python package that imports only the public API (:mod:`orders_schema.model`, plus
:class:`~orders_schema.declare.project.Project`): one constant per table, function and view, in
dependency order, then ``SCHEMA`` and ``PROJECT``. The objects the model cannot declare yet are
printed and written as a comment block at the top of the module, each with its SQL
(:mod:`orders_schema.live.undeclared_sql`): nothing is lost silently.

The versions: a hand-declared version cannot lay out every kind (types, sequences, privileges...),
so ``V1__schema`` is hand-declared and empty (it creates the schema when the project owns it), and
``V2__baseline`` (and ``V3__baseline_online`` when indexes go online) are generated from it to the
declarations, exactly as ``orders-schema generate baseline`` would. ``released.json`` then holds the
declarations as the released snapshot, so ``check`` passes and ``baseline --dsn`` on the original
database records every version as applied.
"""

from __future__ import annotations

import dataclasses
import importlib
import keyword
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

import orders_schema.model as public
from orders_schema import config
from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.declare.project import Project, load
from orders_schema.declare.sqltype import SqlType, sql_text, sql_type
from orders_schema.kinds import Undeclared
from orders_schema.live.apply import connect
from orders_schema.live.declare import LiveDeclarations, read_declarations
from orders_schema.live.undeclared_sql import undeclared_sql
from orders_schema.migrate import together, workflow
from orders_schema.store.files import MANIFEST

__all__ = ["InitRefused", "Initialised", "emit_module", "in_creation_order", "init_project"]


class InitRefused(ValueError):
    """Something would be overwritten, or the input is unusable; nothing was written (one line)."""


@dataclass(frozen=True)
class Initialised:
    written: list[Path]
    report: list[str]
    """One line per live object the declarations leave out."""
    sql: dict[str, str | None] = dataclasses.field(default_factory=dict)
    """Each report line's SQL, as PostgreSQL renders it or rebuilt from the catalogue (None: not rebuilt)."""


# ---------------------------------------------------------------------------------------------
# Emitter: pydantic declarations -> constructor calls with only the fields that differ from the default
# ---------------------------------------------------------------------------------------------


_TYPE_CONSTANTS = [n for n in public.__all__ if n.isupper() and isinstance(getattr(public, n), SqlType)]


def _type_expr(value: SqlType, used: set[str]) -> str | None:
    """A column type as its public constant (``BIGINT``) or ``sql_type("numeric(12, 2)")``."""
    for name in _TYPE_CONSTANTS:
        if getattr(public, name) == value:
            used.add(name)
            return name
    text = sql_text(value)
    try:
        same = sql_type(text) == value
    except ValueError:
        same = False
    if not same:
        return None
    used.add("sql_type")
    return f"sql_type({_str(text)})"


def _str(text: str) -> str:
    """A Python string literal, double-quoted where it can be (as ``ruff format`` writes it), so
    the module reads the same whether or not ruff is installed."""
    shown = repr(text)
    return f'"{shown[1:-1]}"' if shown.startswith("'") and '"' not in text else shown


def _expr(value: Any, used: set[str]) -> str:
    """Python source building ``value``; the public names it calls are added to ``used``."""
    if isinstance(value, SqlType) and (shown_type := _type_expr(value, used)) is not None:
        return shown_type
    if isinstance(value, BaseModel):
        name = type(value).__name__
        if name not in public.__all__:
            raise TypeError(f"{name} is not exported by orders_schema.model")
        used.add(name)
        shown = value.model_dump(exclude_defaults=True)
        fields = [f for f in type(value).model_fields if f in shown]
        return f"{name}(" + ", ".join(f"{f}={_expr(getattr(value, f), used)}" for f in fields) + ")"
    if isinstance(value, tuple):
        inner = ", ".join(_expr(v, used) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_expr(v, used) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_expr(k, used)}: {_expr(v, used)}" for k, v in value.items()) + "}"
    return _str(value) if isinstance(value, str) else repr(value)


def _constant(kind: str, name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", f"{kind}_{name}").upper()
    if base[0].isdigit() or keyword.iskeyword(base):
        base = f"_{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _tables_in_order(schema: m.Schema) -> list[m.Table]:
    by_name = {t.name: t for t in schema.tables}
    needs = {t.name: {fk.ref_table for fk in t.foreign_keys if fk.ref_table != t.name} for t in schema.tables}
    return [by_name[n] for n in together.ordered(list(by_name), needs)]


def _views_in_order(schema: m.Schema) -> list[m.View]:
    by_name = {v.name: v for v in schema.views}
    needs: dict[str, set[str]] = {}
    for view in schema.views:
        reads = fragments.referenced_tables(fragments.parse_query(view.query, view.name))
        needs[view.name] = {r.name for r in reads if r.schema in (None, schema.name)}
    return [by_name[n] for n in together.ordered(list(by_name), needs)]


_CREATION_ORDER = (
    "role", "extension", "enum", "domain", "range type", "multirange type", "composite type", "sequence", "table",
    "unlogged table", "inheriting table", "partitioned table", "partition", "foreign table", "function", "procedure",
    "aggregate", "window function", "view", "materialized view", "primary key", "unique", "check", "exclusion",
    "foreign key", "index", "trigger", "row security", "policy", "owner", "privilege", "default privilege",
    "storage option",
)


def in_creation_order(undeclared: Sequence[Undeclared]) -> list[Undeclared]:
    """What init could not declare, in an order its SQL runs in (types, tables, functions, views,
    then what goes on them; comments last)."""
    def rank(u: Undeclared) -> int:
        return _CREATION_ORDER.index(u.kind) if u.kind in _CREATION_ORDER else len(_CREATION_ORDER)
    return sorted(undeclared, key=lambda u: (rank(u), str(u)))


def _comment_block(live: LiveDeclarations, sql: dict[str, str | None]) -> list[str]:
    report = [str(u) for u in in_creation_order(live.undeclared)]
    if not report:
        return ["# Every object of the live schema is declared below."]
    lines = [f"# Not declared ({len(report)} object(s) the model cannot declare yet; create them by hand,",
             "# e.g. in a hand-written version file after the baseline; their SQL runs in this order):"]
    for line in report:
        lines.append(f"#   {line}")
        text = sql.get(line)
        shown = text.splitlines() if text else ["(its SQL could not be rebuilt from the catalogue)"]
        lines += [f"#       {part}".rstrip() for part in shown]
    return lines


def _declarations(live: LiveDeclarations, used: set[str]) -> list[str]:
    """One constant per function, table (foreign keys first) and view (what it reads first), then ``SCHEMA``."""
    schema = live.schema
    taken: set[str] = {"SCHEMA", "V1", "PROJECT"}
    body: list[str] = []
    names: dict[str, list[str]] = {"tables": [], "functions": [], "views": []}
    for fn in schema.functions:
        const = _constant("function", fn.name, taken)
        body.append(f"{const} = {_expr(fn, used)}\n")
        names["functions"].append(const)
    for table in _tables_in_order(schema):
        const = _constant("table", table.name, taken)
        body.append(f"{const} = {_expr(table, used)}\n")
        names["tables"].append(const)
    for view in _views_in_order(schema):
        const = _constant("view", view.name, taken)
        body.append(f"{const} = {_expr(view, used)}\n")
        names["views"].append(const)
    shown = schema.model_dump(exclude_defaults=True)
    fields: list[str] = []
    for field in type(schema).model_fields:
        if field in names:
            if names[field]:
                fields.append(f"{field}=({', '.join(names[field])},)")
        elif field in shown:
            fields.append(f"{field}={_expr(getattr(schema, field), used)}")
    body.append(f"SCHEMA = Schema({', '.join(fields)})\n")
    used.add("Schema")
    return body


def _v1(schema: m.Schema) -> str:
    create = schema.owned and schema.name != "public"
    return (
        f"V1 = Version(number=1, name=\"schema\", header=(\"The schema {schema.name}, before the objects the "
        f"baseline adds\",), create_schema={create}, state=Schema(name={_str(schema.name)}"
        f"{'' if schema.owned else ', owned=False'}), phases=())\n"
    )


def _head(title: str, block: list[str], imports: list[str]) -> list[str]:
    return [
        f'"""{title}',
        "",
        "The head declarations: change them, then `orders-schema generate NAME` writes the next version.",
        '"""',
        "",
        *block,
        "",
        "from __future__ import annotations",
        "",
        *imports,
        "",
    ]


def emit_module(live: LiveDeclarations, source: str, sql: dict[str, str | None] | None = None) -> str:
    """The package module declaring ``live.schema``: constants in dependency order, ``SCHEMA``,
    the empty hand-declared ``V1`` and ``PROJECT``."""
    used: set[str] = {"Version"}
    body = _declarations(live, used)
    body += [_v1(live.schema), "PROJECT = Project(schema=SCHEMA, versions=(V1,))\n"]
    head = _head(f"The schema {live.schema.name}, read from {source} by `orders-schema init`.",
                 _comment_block(live, sql or {}),
                 ["from orders_schema.declare.project import Project",
                  f"from orders_schema.model import {', '.join(sorted(used))}"])
    return "\n".join(head) + "\n" + "\n".join(body)


def emit_schema_module(live: LiveDeclarations, source: str, sql: dict[str, str | None]) -> str:
    """One schema's module of a project of several schemas: its constants and ``SCHEMA``."""
    used: set[str] = set()
    body = _declarations(live, used)
    head = _head(f"The schema {live.schema.name}, read from {source} by `orders-schema init`.",
                 _comment_block(live, sql), [f"from orders_schema.model import {', '.join(sorted(used))}"])
    return "\n".join(head) + "\n" + "\n".join(body)


def module_name(schema: str, taken: set[str]) -> str:
    """The Python module of a schema: its name when it is one, else ``schema_<name>`` made one."""
    base = schema if schema.isidentifier() and schema.isascii() and not keyword.iskeyword(schema) \
        else "schema_" + re.sub(r"[^A-Za-z0-9_]", "_", schema)
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def emit_package(package: str, main: m.Schema, modules: list[tuple[str, m.Schema]], source: str) -> str:
    """The package's ``__init__.py`` of a project of several schemas: each schema's ``SCHEMA`` from
    its module, the hand-declared ``V1`` (the first ``--schema``) and ``PROJECT``."""
    taken = {"V1", "PROJECT"}
    constants = {name: _constant("schema", name, taken) for name, _ in modules}
    main_module = next(name for name, s in modules if s is main)
    others = [constants[name] for name, s in modules if s is not main]
    body = [_v1(main), f"PROJECT = Project(schema={constants[main_module]}, "
            f"other_schemas=({', '.join(others)},), versions=(V1,))\n"]
    imports = ["from orders_schema.declare.project import Project", "from orders_schema.model import Schema, Version"]
    imports += [f"from {package}.{name} import SCHEMA as {constants[name]}" for name, _ in modules]
    listed = ", ".join(s.name for _, s in modules)
    head = _head(f"The schemas {listed}: read from {source} by `orders-schema init`.",
                 ["# One module per schema, in dependency order (what a schema uses first).",
                  f"# {main.name} is the project's schema (V1 creates it); the others are created by the baseline."],
                 imports)
    return "\n".join(head) + "\n" + "\n".join(body)


def _format(path: Path) -> None:
    """``ruff format`` the file when ruff is installed beside this Python (else it stays as emitted)."""
    ruff = Path(sys.executable).parent / "ruff"
    found = str(ruff) if ruff.exists() else shutil.which("ruff")
    if found:
        subprocess.run([found, "format", "--quiet", "--line-length", "110", str(path)], check=False,
                       capture_output=True)


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------

_PYPROJECT_SECTION = '\n[tool.orders-schema]\nproject = "{package}:PROJECT"\nschema-dir = "schema"\n'
_TEST = '''"""The ready-made orders-schema tests, run on this project's declarations: every version applied
in order on a throwaway server gives exactly the declared schema (structure), and every behaviour
case derived from the declarations holds (NOT NULL, keys, foreign keys, CHECKs, the versions).
CHECKs without accepts=/rejects= examples are reported as warnings until you declare some.
"""

from orders_schema.testing import test_orders_schema_case, test_orders_schema_structure  # noqa: F401
'''


def _refusals(folder: Path, package: str) -> None:
    if not package.isidentifier() or keyword.iskeyword(package):
        raise InitRefused(f"--package {package!r} is not a Python package name")
    pyproject = folder / "pyproject.toml"
    if pyproject.exists():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InitRefused(f"{pyproject}: not readable TOML: {exc}") from None
        if config.SECTION in data.get("tool", {}):
            raise InitRefused(f"{pyproject} already has [tool.{config.SECTION}]: this folder holds a project")
    if (folder / package).exists():
        raise InitRefused(f"{folder / package} exists: init never overwrites a package")
    if (folder / "schema").exists():
        raise InitRefused(f"{folder / 'schema'} exists: init never overwrites a schema folder")


def _read(dsn: str, schema: str) -> tuple[LiveDeclarations, dict[str, str | None]]:
    """The live schema as declarations, and the SQL of each object they leave out (by report line)."""
    with connect(dsn) as conn:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if row is None:
            raise InitRefused(f"the database has no schema {schema!r}")
        try:
            live = read_declarations(conn, schema)
            sql = undeclared_sql(conn, schema, live.undeclared)
        except psycopg.Error as exc:
            raise InitRefused(f"reading schema {schema}: {str(exc).strip().splitlines()[0]}") from None
    return live, {str(u): text for u, text in sql.items()}


def init_project(
    dsn: str, schema: str | Sequence[str], package: str, folder: Path, source: str = "a live database"
) -> Initialised:
    """Write a new project into ``folder`` from the live ``schema`` (or several: the first is the
    project's schema, the others its ``other_schemas``, one module each). Raises
    :class:`InitRefused` (nothing written) or :class:`~orders_schema.live.apply.Unreachable`; what
    the declarations leave out is reported, never an error."""
    names = [schema] if isinstance(schema, str) else list(dict.fromkeys(schema))
    _refusals(folder, package)
    read = [_read(dsn, name) for name in names]
    live = [one for one, _ in read]
    pyproject = folder / "pyproject.toml"
    before = pyproject.read_text(encoding="utf-8") if pyproject.exists() else None
    tests_existed = (folder / "tests").exists()
    test_existed = (folder / "tests" / "test_schema.py").exists()
    try:
        written = _write(read, package, folder, source, before)
    except BaseException:  # nothing half-written: what this call created goes, the pyproject is restored
        shutil.rmtree(folder / package, ignore_errors=True)
        shutil.rmtree(folder / "schema", ignore_errors=True)
        if not tests_existed:
            shutil.rmtree(folder / "tests", ignore_errors=True)
        elif not test_existed:
            (folder / "tests" / "test_schema.py").unlink(missing_ok=True)
        if before is None:
            pyproject.unlink(missing_ok=True)
        else:
            pyproject.write_text(before, encoding="utf-8")
        raise
    report = [str(u) if len(live) == 1 else f"{one.schema.name}: {u}"
              for one in live for u in in_creation_order(one.undeclared)]
    sql = {(line if len(live) == 1 else f"{one.schema.name}: {line}"): found.get(line)
           for one, found in read for line in map(str, one.undeclared)}
    return Initialised(written, report, sql)


def _write(read: list[tuple[LiveDeclarations, dict[str, str | None]]], package: str, folder: Path, source: str,
           before: str | None) -> list[Path]:
    """Write the package (one module, or one per schema and the package's), the pyproject section,
    the test file and the versions; every path written."""
    written: list[Path] = []
    pkg = folder / package
    pkg.mkdir(parents=True)
    module = pkg / "__init__.py"
    if len(read) == 1:
        module.write_text(emit_module(read[0][0], source, read[0][1]), encoding="utf-8")
    else:  # one module per schema, in dependency order
        by_name = {one.schema.name: (one, sql) for one, sql in read}
        taken: set[str] = set()
        modules: list[tuple[str, m.Schema]] = []
        for name in together.schema_order([one.schema for one, _ in read]):
            one, sql = by_name[name]
            path = pkg / f"{module_name(name, taken)}.py"
            path.write_text(emit_schema_module(one, source, sql), encoding="utf-8")
            _format(path)
            written.append(path)
            modules.append((path.stem, one.schema))
        module.write_text(emit_package(package, read[0][0].schema, modules, source), encoding="utf-8")
    _format(module)
    written.append(module)
    pyproject = folder / "pyproject.toml"
    section = _PYPROJECT_SECTION.format(package=package)
    if before is not None:
        pyproject.write_text(before + ("" if before.endswith("\n") or not before else "\n") + section,
                             encoding="utf-8")
    else:
        pyproject.write_text(f"[project]\nname = {package.replace('_', '-')!r}\nversion = \"0.1.0\"\n"
                             f"dependencies = [\"orders-schema\"]\n{section}", encoding="utf-8")
    written.append(pyproject)
    tests = folder / "tests"
    tests.mkdir(exist_ok=True)
    test_file = tests / "test_schema.py"
    if not test_file.exists():
        test_file.write_text(_TEST, encoding="utf-8")
        written.append(test_file)
    project = _load(folder, package).with_dir(folder / "schema")
    written += [project.schema_dir / name for name in workflow.render(project)]
    generated = workflow.generate(project, "baseline")
    if generated is not None:
        written += [project.schema_dir / name for name in generated.files]
        written.append(project.schema_dir / MANIFEST)
    return sorted(set(written))


def _load(folder: Path, package: str) -> Project:
    """The written project, imported from ``folder`` (a declaration it refuses is one line)."""
    config.importable(folder.resolve())
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    return load(f"{package}:PROJECT")



