"""A project: its head declarations, its versions, and the ``schema/`` folder that holds them.

``schema/`` holds one ``V<n>__<name>.sql`` file per version plus ``released.json``: the
SHA-256 of every released file and a snapshot of the schema as the released files leave it.
A released file is never rewritten: ``check`` fails when one was edited, and ``render`` refuses
to change one.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import itertools
import json
import re
import sysconfig
import traceback
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from typing_extensions import Self

from . import diff, plan
from . import model as m
from .behaviour import Behaviour
from .quoting import comment
from .render import RENDERER, Statement

NO_TRANSACTION_MARK = "-- orders-schema: no-transaction"

MANIFEST = "released.json"
VERSION_FILE = re.compile(r"V(?P<number>\d+)__(?P<name>[a-z0-9_]+)\.sql\Z")


class ProjectError(ValueError):
    """A project that cannot be loaded or rendered."""


class DirtySchemaError(ProjectError):
    """``schema/`` does not pass ``check``, so nothing can be generated from it."""


@dataclass(frozen=True)
class Project:
    """A declared project.

    ``schema``: the head declarations. ``versions``: the hand-declared versions, in order.
    ``queries``: the application's statements, each with the index that must serve it.
    ``synthetic_data``: SQL statements that fill the schema with realistic rows; ``%(rows)s`` is
    the number of rows of the main table, ``%(run)s`` a token unique to each load, to be written
    into every key the statements make so that a load never collides with rows already in the
    database (the tester loads them into live databases before EXPLAINing the queries, and rolls
    them back). Run them with the parameters of :func:`synthetic_parameters`, the same for every
    statement of one load.
    ``behaviours``: what triggers promise (``TouchesOnUpdate``, ``AuditsChange``) and rows tables
    must accept (``ValidRow``), from :mod:`orders_schema.behaviour`; the tester proves each one.
    """

    schema: m.Schema
    versions: tuple[m.Version, ...]
    schema_dir: Path = field(default_factory=lambda: Path("schema"))
    queries: tuple[m.Query, ...] = ()
    synthetic_data: tuple[str, ...] = ()
    allow_destructive: tuple[str, ...] = ()
    """Destructive changes ``generate`` may write, e.g. ``"drop column walltrack.orders.legacy"``."""
    behaviours: tuple[Behaviour, ...] = ()

    def with_dir(self, schema_dir: Path) -> Project:
        return replace(self, schema_dir=schema_dir)

    def query(self, name: str) -> m.Query:
        for q in self.queries:
            if q.name == name:
                return q
        raise KeyError(name)


def synthetic_parameters(rows: int, run: str | None = None) -> dict[str, int | str]:
    """The parameters of one load of a project's ``synthetic_data``: ``rows`` and ``run``.

    ``run`` is a new random token (16 hex digits) unless given; pass the same dictionary to every
    statement of the load, so that rows made by one statement can reference those of another.
    """
    if run is None:
        run = uuid.uuid4().hex[:16]
    elif not re.fullmatch(r"[a-z0-9]{1,32}", run):
        raise ValueError(f"synthetic data run token {run!r}: use 1 to 32 lower-case letters and digits")
    return {"rows": rows, "run": run}


def load(spec: str, schema_dir: Path | None = None) -> Project:
    """Load ``"package.module:ATTRIBUTE"``, e.g. ``orders_schema.walltrack:PROJECT``.

    Every way this can fail raises :class:`ProjectError` with one line naming the spec: a module
    that cannot be imported or raises while it builds its declarations (with the file and line
    that raised), a missing attribute, an attribute that is not a :class:`Project`.
    """
    module_name, _, attr = spec.partition(":")
    attr = attr or "PROJECT"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise ProjectError(f"project {spec!r}: expected module:ATTRIBUTE, e.g. orders_schema.walltrack:PROJECT")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProjectError(f"project {spec!r}: cannot import {module_name!r}: {exc}") from None
    except ValueError as exc:  # a declaration error raised while the module builds its objects
        raise ProjectError(f"project {spec!r}: {_one_line(exc)}{_where(exc)}") from None
    except Exception as exc:  # the project's own code is input here: one line, not a traceback
        raise ProjectError(
            f"project {spec!r}: importing {module_name!r} raised {type(exc).__name__}: {_one_line(exc)}{_where(exc)}"
        ) from None
    if not hasattr(module, attr):
        raise ProjectError(f"project {spec!r}: module {module_name!r} has no attribute {attr!r}")
    project = getattr(module, attr)
    if not isinstance(project, Project):
        raise ProjectError(
            f"project {spec!r}: {module_name}.{attr} is a {type(project).__name__}, not an orders_schema Project"
        )
    return project.with_dir(schema_dir) if schema_dir is not None else project


def _where(exc: BaseException) -> str:
    """`` (file:line)`` in the project's code where ``exc`` was raised (or of a syntax error): the
    innermost frame outside this library's own modules, the import machinery and the standard library."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}:{exc.lineno})"
    library = Path(__file__).resolve().parent
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()

    def ours(filename: str) -> bool:
        path = Path(filename).resolve()
        return filename.startswith("<") or path.parent == library or stdlib in path.parents

    frames = traceback.extract_tb(exc.__traceback__)
    project = [f for f in frames if not ours(f.filename)] or frames
    return f" ({project[-1].filename}:{project[-1].lineno})" if project else ""


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
        except Exception:  # pragma: no cover - defensive: fall back to the plain message
            pass
    return str(exc).splitlines()[0]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rendered_versions(project: Project) -> dict[str, str]:
    """File name -> text for every hand-declared version, in version order."""
    files: dict[str, str] = {}
    previous: m.Schema | None = None
    last = 0
    for version in project.versions:
        if version.number <= last:
            raise ProjectError(f"V{version.number} follows V{last}: version numbers must increase")
        statements = plan.baseline_statements(version, previous)
        files[version.filename] = RENDERER.script(statements, version.header)
        previous, last = version.state, version.number
    return files


def released_schema(project: Project) -> m.Schema | None:
    """The schema the released versions leave: the snapshot once versions were generated, else the
    last hand-declared version's state."""
    manifest = read_manifest(project.schema_dir)
    if _generated(manifest) and manifest.get("schema"):
        return _snapshot(project.schema_dir, manifest["schema"])
    return project.versions[-1].state if project.versions else None


def _snapshot(schema_dir: Path, data: dict[str, Any]) -> m.Schema:
    """The manifest's schema snapshot as declarations; a bad one names the file and the field."""
    try:
        return m.Schema.model_validate(data)
    except ValueError as exc:
        raise ProjectError(
            f"{schema_dir / MANIFEST}: field schema is not a valid schema snapshot: {_one_line(exc)}"
        ) from None


def _generated(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in manifest.get("versions", []) if e.get("generated")]


SHA256_HEX = r"^[0-9a-f]{64}$"
DOWN_FILE = re.compile(r"down/U\d+__[a-z0-9_]+\.sql\Z")


class ManifestEntry(BaseModel):
    """One released version as ``released.json`` records it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: int = Field(ge=1)
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    file: str
    sha256: str = Field(pattern=SHA256_HEX)
    generated: bool = False
    transactional: bool = True
    down: str | None = None
    """The down script undoing this version's generation, ``down/U<n>__<name>.sql``."""
    down_sha256: str | None = Field(default=None, pattern=SHA256_HEX)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        expected = f"V{self.version}__{self.name}.sql"
        if self.file != expected:
            raise ValueError(f"file {self.file!r} does not match version {self.version} and name {self.name!r} "
                             f"(expected {expected!r})")
        if (self.down is None) != (self.down_sha256 is None):
            raise ValueError("'down' and 'down_sha256' go together")
        if self.down is not None and not DOWN_FILE.match(self.down):
            raise ValueError(f"down {self.down!r} is not of the form down/U<n>__<name>.sql")
        return self


class Manifest(BaseModel):
    """The whole of ``released.json``: the released versions in order and the released schema."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    versions: list[ManifestEntry]
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    @field_validator("versions")
    @classmethod
    def _increasing(cls, versions: list[ManifestEntry]) -> list[ManifestEntry]:
        for before, after in itertools.pairwise(versions):
            if after.version <= before.version:
                raise ValueError(f"V{after.version} follows V{before.version}: versions must increase")
        return versions


def read_manifest(schema_dir: Path) -> dict[str, Any]:
    """``released.json`` as written (``{"versions": []}`` when there is none), its whole shape
    validated: a malformed manifest raises :class:`ProjectError` naming the file and the field."""
    path = schema_dir / MANIFEST
    if not path.exists():
        return {"versions": []}
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path}: not valid JSON ({exc})") from None
    try:
        Manifest.model_validate(data)
    except ValidationError as exc:
        raise ProjectError(f"{path}: {_manifest_error(exc)}") from None
    assert isinstance(data, dict)
    return data


def _manifest_error(exc: ValidationError) -> str:
    """The first of pydantic's errors as ``field versions[2].sha256: <what is wrong> (got ...)``."""
    err = exc.errors()[0]
    loc = ""
    for part in err["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    msg = "must be a JSON object" if err["type"] == "model_type" else str(err["msg"]).removeprefix("Value error, ")
    where = f"field {loc}" if loc else "the top level"
    got = "" if err["type"] in ("value_error", "missing") else f" (got {json.dumps(err['input'])[:60]})"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {msg}{got}{more}"


def read_text(path: Path) -> str:
    """A file's text; one that cannot be read or is not UTF-8 raises :class:`ProjectError` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start]
        raise ProjectError(f"{path}: not UTF-8 text (byte 0x{bad:02x} at offset {exc.start})") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def require_schema_dir(schema_dir: Path) -> None:
    """Raise :class:`ProjectError` unless ``schema_dir`` is a folder holding versions (``released.json``
    or a ``V<n>__<name>.sql`` file): a wrong folder must not read as "nothing released"."""
    hint = (
        "(wrong --schema-dir, or not run from the project's root? "
        "`orders-schema render --init` starts a new project)"
    )
    if not schema_dir.exists():
        raise ProjectError(f"schema folder {schema_dir}/ does not exist {hint}")
    if not schema_dir.is_dir():
        raise ProjectError(f"schema folder {schema_dir} is a file, not a folder")
    if not (schema_dir / MANIFEST).exists() and not any(
        VERSION_FILE.match(path.name) for path in schema_dir.glob("V*__*.sql")
    ):
        raise ProjectError(f"schema folder {schema_dir}/ holds no {MANIFEST} and no V<n>__<name>.sql file {hint}")


def manifest_for(project: Project, files: dict[str, str]) -> dict[str, Any]:
    """The manifest for the declared versions' files, keeping every generated entry already recorded."""
    entries = []
    for name, text in files.items():
        match = VERSION_FILE.match(name)
        assert match is not None
        entries.append(
            {"version": int(match["number"]), "name": match["name"], "file": name, "sha256": sha256(text)}
        )
    existing = read_manifest(project.schema_dir)
    entries += _generated(existing)
    snapshot = released_schema(project)
    return {
        "versions": entries,
        "schema": snapshot.model_dump(mode="json") if snapshot else None,
    }


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def render(project: Project) -> list[str]:
    """Write every version file and the manifest; return the names of files written.

    A file the manifest records as released is never rewritten with different text.
    """
    files = rendered_versions(project)
    recorded = {e["file"]: e["sha256"] for e in read_manifest(project.schema_dir).get("versions", [])}
    for name, text in files.items():
        if name in recorded and recorded[name] != sha256(text):
            raise ProjectError(
                f"{name} is released and its declaration changed: released files are never rewritten. "
                "Put the change in the head declarations and let `orders-schema generate` write the "
                "next version."
            )
    project.schema_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = project.schema_dir / name
        if not path.exists() or read_text(path) != text:
            path.write_text(text, encoding="utf-8")
            written.append(name)
    manifest = _dump(manifest_for(project, files))
    path = project.schema_dir / MANIFEST
    if not path.exists() or read_text(path) != manifest:
        path.write_text(manifest, encoding="utf-8")
        written.append(MANIFEST)
    return written


def check(project: Project) -> list[str]:
    """Every way ``schema/`` differs from the declarations; empty when they agree."""
    problems: list[str] = []
    files = rendered_versions(project)
    manifest = read_manifest(project.schema_dir)
    recorded = {e["file"]: e["sha256"] for e in manifest.get("versions", [])}
    on_disk = {p.name for p in project.schema_dir.glob("*.sql")} if project.schema_dir.exists() else set()

    recorded.update({e["down"]: e["down_sha256"] for e in _generated(manifest) if e.get("down")})
    for name, sha in recorded.items():
        path = project.schema_dir / name
        if not path.exists():
            problems.append(f"{name}: released but missing from {project.schema_dir}/")
            continue
        actual = sha256(read_text(path))
        if actual != sha:
            problems.append(
                f"{name}: released file was edited (recorded sha256 {sha[:12]}, file has {actual[:12]}); "
                "released files are immutable: restore it and put the change in a new version"
            )
    for name, text in files.items():
        path = project.schema_dir / name
        if name not in recorded:
            problems.append(f"{name}: declared but not released (run `orders-schema render`)")
        if not path.exists():
            continue
        current = read_text(path)
        if current != text:
            delta = difflib.unified_diff(
                text.splitlines(), current.splitlines(), f"{name} (declared)", f"{name} (on disk)", lineterm="", n=1
            )
            problems.append(f"{name}: differs from its declaration:\n" + "\n".join("    " + d for d in delta))
    for name in sorted(on_disk - set(files) - set(recorded)):
        problems.append(f"{name}: in {project.schema_dir}/ but neither declared nor released")
    expected = released_schema(project)
    recorded_schema = manifest.get("schema")
    stale = recorded_schema is None or expected is None or _snapshot(project.schema_dir, recorded_schema) != expected
    if stale and not problems:
        problems.append(f"{MANIFEST}: the released schema snapshot is stale (run `orders-schema render`)")
    released = released_schema(project)
    pending = diff.diff(released, project.schema) if released is not None else []
    if pending:
        listed = ", ".join(sorted({_describe(c) for c in pending}))
        problems.append(
            f"the head declarations have {len(pending)} change(s) that no version contains ({listed}); "
            "run `orders-schema generate NAME` to write the next version"
        )
    return problems


def _describe(change: diff.Change) -> str:
    kind = type(change).__name__
    for attr in ("table", "column", "index", "constraint", "trigger", "function", "view", "new"):
        value = getattr(change, attr, None)
        if value is not None and hasattr(value, "name"):
            return f"{kind} {value.name}"
        if isinstance(value, str):
            return f"{kind} {value}"
    return kind


# ---------------------------------------------------------------------------------------------
# generate: the next version from the difference between the released schema and the head
# ---------------------------------------------------------------------------------------------

FLYWAY_NO_TRANSACTION = "executeInTransaction=false\n"
DOWN_DIR = "down"


@dataclass(frozen=True)
class Generated:
    """What ``generate`` wrote (or, with ``dry_run``, would write): file name -> text."""

    files: dict[str, str]
    changes: list[diff.Change]

    @property
    def versions(self) -> list[str]:
        return [n for n in self.files if VERSION_FILE.match(n)]


def _last_version(project: Project) -> int:
    numbers = [e["version"] for e in read_manifest(project.schema_dir).get("versions", [])]
    numbers += [v.number for v in project.versions]
    return max(numbers, default=0)


def _script(plan_part: list[Statement], header: list[str], no_transaction: bool) -> str:
    lines = ([NO_TRANSACTION_MARK] if no_transaction else []) + [comment(h) for h in header]
    return "\n".join(lines) + "\n\n" + RENDERER.script(plan_part)


def generate(project: Project, name: str, dry_run: bool = False) -> Generated | None:
    """Write the next version(s) and their down scripts; None when there is nothing to do.

    Transactional changes go to ``V<n+1>__<name>.sql``. Statements that must not hold locks on
    tables with data (CREATE/DROP INDEX CONCURRENTLY, VALIDATE CONSTRAINT) go to
    ``V<n+2>__<name>_online.sql``, marked no-transaction for ``apply`` (first line) and for Flyway
    (``.sql.conf``). The down scripts under ``down/`` return the database to the released schema.
    """
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ProjectError(f"version name {name!r}: use lower-case letters, digits and _ only")
    released = released_schema(project)
    if released is None:
        raise ProjectError("nothing is released yet: declare a first version (see orders_schema.model.Version)")
    problems = [p for p in check(project) if "no version contains" not in p]
    if problems:
        raise DirtySchemaError(
            f"{project.schema_dir}/ must pass `orders-schema check` before generating: {problems[0].splitlines()[0]}"
        )
    changes = diff.diff(released, project.schema)
    if not changes:
        return None
    up = plan.migration_plan(released, project.schema, changes, project.allow_destructive)
    down = plan.migration_plan(
        project.schema, released, diff.diff(project.schema, released), allow=_everything(project.schema, released)
    )
    number = _last_version(project)
    files: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    parts = [(up.transactional, down.transactional, name, False), (up.online, down.online, f"{name}_online", True)]
    parts = [p for p in parts if p[0]]
    for up_part, _, part_name, online in parts:
        number += 1
        fname = f"V{number}__{part_name}.sql"
        header = [f"{part_name}: generated by orders-schema from the declarations", f"Version: V{number}"]
        if online:
            header.append("Runs outside a transaction: CONCURRENTLY and VALIDATE hold no long lock on live tables.")
            files[fname + ".conf"] = FLYWAY_NO_TRANSACTION
        files[fname] = _script(up_part, header, online)
        entries.append({"version": number, "name": part_name, "file": fname, "sha256": sha256(files[fname]),
                        "generated": True, "transactional": not online})
    # One down script per generation, attached to its last version: it undoes every part.
    # The online part follows the no-transaction mark: `orders-schema undo` runs what precedes it
    # in one transaction and the rest statement by statement.
    down_text = RENDERER.script(down.transactional) if down.transactional else ""
    if down.online:
        down_text += f"\n{NO_TRANSACTION_MARK}\n" + RENDERER.script(down.online)
    down_name = f"{DOWN_DIR}/U{entries[0]['version']}__{name}.sql"
    files[down_name] = (
        comment(f"Undo {', '.join(e['file'] for e in entries)}: back to the schema released before them.") + "\n"
        + comment("Destructive by design: it drops what those versions added.") + "\n\n" + down_text
    )
    entries[-1]["down"] = down_name
    entries[-1]["down_sha256"] = sha256(files[down_name])
    if not dry_run:
        manifest = read_manifest(project.schema_dir)
        manifest["versions"] = [*manifest.get("versions", []), *entries]
        manifest["schema"] = project.schema.model_dump(mode="json")
        (project.schema_dir / DOWN_DIR).mkdir(parents=True, exist_ok=True)
        for fname, text in files.items():
            (project.schema_dir / fname).write_text(text, encoding="utf-8")
        (project.schema_dir / MANIFEST).write_text(_dump(manifest), encoding="utf-8")
    return Generated(files, changes)


def _everything(new: m.Schema, old: m.Schema) -> tuple[str, ...]:
    keys = [plan.destructive(c, new.name) for c in diff.diff(new, old)]
    return tuple(k for k in keys if k)
