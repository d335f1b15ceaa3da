"""The project workflow: ``render`` the hand-declared versions, ``check`` ``schema/`` against the
declarations, ``generate`` the next version from the head declarations.

A released file is never rewritten: ``check`` fails when one was edited, and ``render`` refuses
to change one.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from orders_schema.declare import model as m
from orders_schema.declare.project import Project, ProjectError, _one_line
from orders_schema.declare.quoting import comment
from orders_schema.kinds.backfill import BatchedBackfill
from orders_schema.migrate import diff, plan, together
from orders_schema.migrate.render import RENDERER, Statement
from orders_schema.store.files import (
    LOSES_DATA_MARK,
    LOSES_NO_DATA_MARK,
    MANIFEST,
    NO_TRANSACTION_MARK,
    VERSION_FILE,
    _dump,
    _generated,
    read_manifest,
    read_text,
    sha256,
)


class DirtySchemaError(ProjectError):
    """``schema/`` does not pass ``check``, so nothing can be generated from it."""


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


def released_schema(project: Project, manifest: dict[str, Any] | None = None) -> m.Schema | None:
    """The schema the released versions leave: the snapshot once versions were generated, else the
    last hand-declared version's state. ``manifest``: ``released.json`` if already read."""
    manifest = read_manifest(project.schema_dir) if manifest is None else manifest
    if _generated(manifest) and manifest.get("schema"):
        return _snapshot(project.schema_dir, manifest["schema"])
    return project.versions[-1].state if project.versions else None


def released_others(project: Project, manifest: dict[str, Any] | None = None) -> dict[str, m.Schema]:
    """The other schemas (:attr:`Project.other_schemas`) as the released versions leave them, by
    name: their snapshots once versions were generated, else none (hand-declared versions lay out
    the project's ``schema`` only)."""
    manifest = read_manifest(project.schema_dir) if manifest is None else manifest
    if not _generated(manifest):
        return {}
    snapshots = [_snapshot(project.schema_dir, data) for data in manifest.get("other_schemas") or ()]
    return {s.name: s for s in snapshots}


def _snapshot(schema_dir: Path, data: dict[str, Any]) -> m.Schema:
    """The manifest's schema snapshot as declarations; a bad one names the file and the field."""
    try:
        return m.Schema.model_validate(data)
    except ValueError as exc:
        raise ProjectError(
            f"{schema_dir / MANIFEST}: field schema is not a valid schema snapshot: {_one_line(exc)}"
        ) from None


def manifest_for(project: Project, files: dict[str, str], existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest for the declared versions' files, keeping every generated entry already recorded."""
    entries = []
    for name, text in files.items():
        match = VERSION_FILE.match(name)
        assert match is not None
        entries.append(
            {"version": int(match["number"]), "name": match["name"], "file": name, "sha256": sha256(text)}
        )
    existing = read_manifest(project.schema_dir) if existing is None else existing
    entries += _generated(existing)
    snapshot = released_schema(project, existing)
    out = {
        "versions": entries,
        "schema": snapshot.model_dump(mode="json") if snapshot else None,
    }
    if others := released_others(project, existing):
        out["other_schemas"] = [o.model_dump(mode="json") for o in others.values()]
    return out


def render(project: Project) -> list[str]:
    """Write every version file and the manifest; return the names of files written.

    A file the manifest records as released is never rewritten with different text.
    """
    files = rendered_versions(project)
    released = read_manifest(project.schema_dir)
    recorded = {e["file"]: e["sha256"] for e in released.get("versions", [])}
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
    manifest = _dump(manifest_for(project, files, released))
    path = project.schema_dir / MANIFEST
    if not path.exists() or read_text(path) != manifest:
        path.write_text(manifest, encoding="utf-8")
        written.append(MANIFEST)
    return written


ProblemKind = Literal["missing", "edited", "unreleased", "differs", "stray", "stale", "pending"]


@dataclass(frozen=True)
class Problem:
    """One way ``schema/`` differs from the declarations. ``kind`` says which way; ``pending`` (the
    head declarations have changes no version contains) is the one ``generate`` resolves."""

    kind: ProblemKind
    text: str
    file: Path | None = None
    """The file concerned, when there is one (``pending`` has none: the change is in the declarations)."""
    line: int | None = None
    """Where in ``file``: the first line that differs, or the manifest entry of a missing file."""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Review:
    """What ``check`` finds, with what it read on the way (so ``generate`` reads and diffs once)."""

    problems: list[Problem]
    manifest: dict[str, Any]
    released: m.Schema | None
    pending: list[diff.Change]
    others: tuple[tuple[m.Schema, m.Schema, list[diff.Change]], ...] = ()
    """Each other schema as released (an empty one when it is new), as declared, and its changes."""


def review(project: Project) -> Review:
    """Read ``released.json`` once, compare ``schema/`` with the declarations, diff the head once."""
    problems: list[Problem] = []
    files = rendered_versions(project)
    manifest = read_manifest(project.schema_dir)
    recorded = {e["file"]: e["sha256"] for e in manifest.get("versions", [])}
    on_disk = {p.name for p in project.schema_dir.glob("*.sql")} if project.schema_dir.exists() else set()

    recorded.update({e["down"]: e["down_sha256"] for e in _generated(manifest) if e.get("down")})
    for name, sha in recorded.items():
        path = project.schema_dir / name
        if not path.exists():
            problems.append(Problem("missing", f"{name}: released but missing from {project.schema_dir}/",
                                    project.schema_dir / MANIFEST, _line_naming(project.schema_dir / MANIFEST, name)))
            continue
        actual = sha256(read_text(path))
        if actual != sha:
            problems.append(Problem(
                "edited",
                f"{name}: released file was edited (recorded sha256 {sha[:12]}, file has {actual[:12]}); "
                "released files are immutable: restore it and put the change in a new version",
                path,
            ))
    for name, text in files.items():
        path = project.schema_dir / name
        if name not in recorded:
            problems.append(Problem("unreleased", f"{name}: declared but not released (run `orders-schema render`)",
                                    path if path.exists() else None))
        if not path.exists():
            continue
        current = read_text(path)
        if current != text:
            delta = difflib.unified_diff(
                text.splitlines(), current.splitlines(), f"{name} (declared)", f"{name} (on disk)", lineterm="", n=1
            )
            problems.append(
                Problem("differs", f"{name}: differs from its declaration:\n" + "\n".join("    " + d for d in delta),
                        path, _first_difference(text, current))
            )
    for name in sorted(on_disk - set(files) - set(recorded)):
        problems.append(Problem("stray", f"{name}: in {project.schema_dir}/ but neither declared nor released",
                                project.schema_dir / name))
    released = released_schema(project, manifest)
    recorded_schema = manifest.get("schema")
    stale = recorded_schema is None or released is None or _snapshot(project.schema_dir, recorded_schema) != released
    if stale and not problems:
        problems.append(
            Problem("stale", f"{MANIFEST}: the released schema snapshot is stale (run `orders-schema render`)",
                    project.schema_dir / MANIFEST)
        )
    pending = diff.diff(released, project.schema) if released is not None else []
    was = released_others(project, manifest)
    others = tuple((was.get(o.name, m.Schema(name=o.name)), o, diff.diff(was.get(o.name, m.Schema(name=o.name)), o))
                   for o in project.other_schemas)
    every = pending + [c for _, _, changes in others for c in changes]
    if every:
        listed = ", ".join(sorted({_describe(c) for c in every}))
        problems.append(Problem(
            "pending",
            f"the head declarations have {len(every)} change(s) that no version contains ({listed}); "
            "run `orders-schema generate NAME` to write the next version",
        ))
    return Review(problems, manifest, released, pending, others)


def _first_difference(declared: str, on_disk: str) -> int:
    """The first line of ``on_disk`` that is not as declared (1-based; its last line when lines were
    only removed at the end)."""
    old, new = declared.splitlines(), on_disk.splitlines()
    for tag, _i1, _i2, j1, _j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            return min(j1, max(len(new) - 1, 0)) + 1
    return 1


def _line_naming(path: Path, name: str) -> int | None:
    """The line of ``path`` that names ``name`` (the manifest's entry of a file)."""
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if f'"{name}"' in line:
            return number
    return None


def check(project: Project) -> list[str]:
    """Every way ``schema/`` differs from the declarations; empty when they agree."""
    return [p.text for p in review(project).problems]


def _describe(change: diff.Change) -> str:
    kind = type(change).__name__
    for attr in ("table", "column", "index", "constraint", "trigger", "function", "view", "new"):
        value = getattr(change, attr, None)
        if value is not None and hasattr(value, "name"):
            return f"{kind} {value.name}"
        if isinstance(value, str):
            return f"{kind} {value}"
    return kind


FLYWAY_NO_TRANSACTION = "executeInTransaction=false\n"


DOWN_DIR = "down"


@dataclass(frozen=True)
class Generated:
    """What ``generate`` wrote (or, with ``dry_run``, would write): file name -> text."""

    files: dict[str, str]
    changes: list[diff.Change]
    undo_loses: tuple[str, ...] = ()
    """What running the down script loses (``drop column walltrack.orders.fee_sol``): the data the
    versions let users write and undoing them cannot keep. ``undo`` refuses it unless told to."""

    @property
    def versions(self) -> list[str]:
        return [n for n in self.files if VERSION_FILE.match(n)]


def _last_version(project: Project, manifest: dict[str, Any]) -> int:
    numbers = [e["version"] for e in manifest.get("versions", [])]
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
    found = review(project)
    released = found.released
    if released is None:
        raise ProjectError("nothing is released yet: declare a first version (see orders_schema.declare.model.Version)")
    problems = [p.text for p in found.problems if p.kind != "pending"]
    if problems:
        raise DirtySchemaError(
            f"{project.schema_dir}/ must pass `orders-schema check` before generating: {problems[0].splitlines()[0]}"
        )
    changes = found.pending
    if not changes and not any(c for _, _, c in found.others):
        return None
    # The down script is the changes' reverse, not a second diff: a declared rename is renamed
    # back (a re-diff would drop and re-add the column, losing its data).
    back = diff.reverse(changes)
    if project.other_schemas:  # several schemas: one plan, ordered by the dependencies between them
        steps = [(released, project.schema, changes), *found.others]
        new = [o.name for _, o, _ in found.others
               if o.owned and o.name != "public" and o.name not in _released_names(found)]
        up = together.migration_plan(steps, project.allow_destructive, create=new)
        backs = [(b, a, diff.reverse(c)) for a, b, c in steps]
        down = together.migration_plan(
            backs, allow=tuple(k for a, _, c in backs for k in _everything(c, a.name)), drop=new)
        changes = [c for _, _, step in steps for c in step]
    else:
        up = plan.migration_plan(released, project.schema, changes, project.allow_destructive)
        down = plan.migration_plan(project.schema, released, back, allow=_everything(back, released.name))
    number = _last_version(project, found.manifest)
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
            if any(isinstance(st, BatchedBackfill) for st in up_part):
                header.append("A batched backfill commits once per batch: writers wait for one batch at most.")
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
    loses = undo_loses(back, released.name)
    loses += [k for was, _, c in found.others for k in undo_loses(diff.reverse(c), was.name)]
    marks = [LOSES_DATA_MARK + item for item in loses] if loses else [LOSES_NO_DATA_MARK]
    files[down_name] = (
        comment(f"Undo {', '.join(e['file'] for e in entries)}: back to the schema released before them.") + "\n"
        + comment("Destructive by design: it drops what those versions added.") + "\n"
        + "\n".join(marks) + "\n\n" + down_text
    )
    entries[-1]["down"] = down_name
    entries[-1]["down_sha256"] = sha256(files[down_name])
    if not dry_run:
        manifest = found.manifest
        manifest["versions"] = [*manifest.get("versions", []), *entries]
        manifest["schema"] = project.schema.model_dump(mode="json")
        if project.other_schemas:
            manifest["other_schemas"] = [o.model_dump(mode="json") for o in project.other_schemas]
        (project.schema_dir / DOWN_DIR).mkdir(parents=True, exist_ok=True)
        for fname, text in files.items():
            (project.schema_dir / fname).write_text(text, encoding="utf-8")
        (project.schema_dir / MANIFEST).write_text(_dump(manifest), encoding="utf-8")
    return Generated(files, changes, tuple(loses))


def _released_names(found: Review) -> set[str]:
    return {s["name"] for s in found.manifest.get("other_schemas") or () if isinstance(s, dict) and "name" in s}


def undo_loses(back: list[diff.Change], schema: str) -> list[str]:
    """What the down script's changes lose: dropped columns and tables, and narrowed columns
    whose values PostgreSQL would round rather than refuse (see :func:`_checked_narrowing`)."""
    lost = []
    for change in back:
        key = plan.destructive(change, schema)
        if key is None:
            continue
        if isinstance(change, diff.AlterColumn) and _checked_narrowing(change.old.type, change.new.type):
            continue
        lost.append(key)
    return lost


_INTEGERS = ("smallint", "integer", "bigint")


def _checked_narrowing(old: m.SqlType, new: m.SqlType) -> bool:
    """Whether ALTER COLUMN ... TYPE from ``old`` to ``new`` keeps every value or fails: its
    assignment cast refuses a string too long for varchar(n) and an integer or numeric out of
    range, but rounds a numeric to fewer decimals."""
    if new.name == "varchar" and old.name in ("varchar", "text"):
        return True
    if old.name in _INTEGERS and new.name in _INTEGERS:
        return True
    numeric = ("numeric", "decimal")
    if old.name in numeric and new.name in numeric and old.args and new.args:
        old_scale = old.args[1] if len(old.args) > 1 else 0
        new_scale = new.args[1] if len(new.args) > 1 else 0
        return new_scale >= old_scale
    return False


def _everything(changes: list[diff.Change], schema: str) -> tuple[str, ...]:
    keys = [plan.destructive(c, schema) for c in changes]
    return tuple(k for k in keys if k)
