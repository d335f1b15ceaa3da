"""The round trip of one declared change on a database that holds data.

:func:`round_trip` takes a project's released schema and a head with one change, and runs what a
team runs: ``generate`` (into a copy of ``schema/``), ``check``, ``apply``, verify at the new
head, ``undo`` (refused first when it loses data), verify at the previous release, the down
script once more (it must be re-runnable and change nothing), ``apply`` again, verify. Verify
here is structure and rows: the live catalogue equals the declarations in PostgreSQL's stored form
(:func:`~orders_schema.live.compare.declared_catalog`), and every row of every released table is
intact (a count and an MD5 of the rows, the columns of the previous release under their current
names). Each step is timed; the first that fails raises :class:`RoundTripFailed` naming it.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.declare.quoting import ident, qualified
from orders_schema.live.apply import DataLossRefused, migrate, undo_last
from orders_schema.live.compare import compare, declared_catalog
from orders_schema.live.inspect import Catalog, inspect_schema
from orders_schema.migrate import workflow
from orders_schema.migrate.lint import lint_text
from orders_schema.store.files import NO_TRANSACTION_MARK, read_manifest
from orders_schema.store.statements import split
from orders_schema.tester.server import admin_dsn

Rows = dict[str, tuple[int, str]]
"""Released table -> (row count, MD5 of its rows)."""


class RoundTripFailed(AssertionError):
    """A step of the round trip failed; the message names the change and the step."""


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float


@dataclass
class RoundTrip:
    """What one round trip did: the generated files, what undo loses, each step's time."""

    name: str
    generated: workflow.Generated
    first_version: int
    steps: list[Step] = field(default_factory=list)

    def golden(self) -> str:
        """The generated files and their hazards as text, version numbers relative to the last
        release (``V<next>``, ``V<next+1>``), so the text does not change when versions are added."""
        out = []
        for name, text in self.generated.files.items():
            out += [f"== {name}", text.rstrip("\n"), ""]
        for name in self.generated.versions:
            out.append(f"== hazards of {name}")
            for linted in lint_text(self.generated.files[name]):
                out.append(f"  {linted.sql.splitlines()[0][:100]}")
                out += [f"      {hazard}" for hazard in linted.hazards]
        out.append("== undo loses: " + ("; ".join(self.generated.undo_loses) or "nothing"))
        text = "\n".join(out) + "\n"
        for k in (1, 0):  # the higher number first: V16 must not become V<next>6
            number, label = self.first_version + k, "<next+1>" if k else "<next>"
            text = re.sub(rf"\b([VU]){number}(?!\d)", rf"\g<1>{label}", text)
        return text


def rows_of(conn: psycopg.Connection, released: m.Schema, current: m.Schema) -> Rows:
    """Count and MD5 of every released table's rows, read through ``current``'s names (a table or
    column renamed since is read under its new name; one dropped since is left out)."""
    out: Rows = {}
    for table in released.tables:
        now = next((t for t in current.tables if t.name == table.name and t.renamed_from is None), None)
        now = now or next((t for t in current.tables if t.renamed_from == table.name), None)
        if now is None:
            continue
        names = {c.name: c.name for c in now.columns} | {c.renamed_from: c.name for c in now.columns if c.renamed_from}
        columns = [ident(names[c.name]) for c in table.columns if c.name in names]
        key = [ident(names[c]) for c in (table.primary_key.columns if table.primary_key else ()) if c in names]
        row = f"ROW({', '.join(columns)})::text"
        order = ", ".join(key) or row  # a table without a key: its rows in the order of their text
        found = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg({row}, ',' ORDER BY {order}), '')) "
            f"FROM {qualified(current.name, now.name)}".encode()
        ).fetchone()
        assert found is not None
        out[table.name] = (int(found[0]), str(found[1]))
    return out


def round_trip(
    project: Project,
    head: m.Schema,
    name: str,
    dsn: str,
    workdir: Path,
    released_catalog: Catalog | None = None,
    progress: Callable[[Step], None] | None = None,
) -> RoundTrip:
    """Generate ``head`` (one change against ``project``'s released schema) as version ``name``
    into a copy of ``project.schema_dir`` under ``workdir``, and take the database at ``dsn`` (at
    the last release, holding data, history recorded) through the round trip; it ends at the new
    head. ``released_catalog``: the released declarations in stored form, if already read."""
    schema_dir = workdir / "schema"
    shutil.copytree(project.schema_dir, schema_dir)
    changed = replace(project, schema=head, schema_dir=schema_dir)
    released = workflow.released_schema(changed)
    if released is None:
        raise RoundTripFailed(f"{name}: nothing is released in {project.schema_dir}")
    admin = admin_dsn(dsn)
    first = 1 + max(e["version"] for e in read_manifest(schema_dir)["versions"])
    steps: list[Step] = []

    def step(label: str, action: Callable[[], object]) -> object:
        started = time.perf_counter()
        try:
            result = action()
        except RoundTripFailed:
            raise
        except Exception as exc:
            raise RoundTripFailed(f"{name}: {label}: {type(exc).__name__}: {exc}") from exc
        steps.append(Step(label, time.perf_counter() - started))
        if progress is not None:
            progress(steps[-1])
        return result

    def generate() -> workflow.Generated:
        result = workflow.generate(changed, name)
        if result is None:
            raise RoundTripFailed(f"{name}: generate: nothing to do (the head has no change)")
        return result

    generated = step("generate", generate)
    assert isinstance(generated, workflow.Generated)

    def check() -> None:
        problems = workflow.check(changed)
        if problems:
            raise RoundTripFailed(f"{name}: check: {problems[0]}")

    step("check", check)
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = rows_of(conn, released, released)
    head_catalog = declared_catalog(head, admin)
    before_catalog = released_catalog or declared_catalog(released, admin)

    def verify(label: str, catalog: Catalog, schema: m.Schema) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            live = inspect_schema(conn, schema.name)
            rows = rows_of(conn, released, schema)
        differences = compare(catalog, live)
        if differences:
            listed = "; ".join(str(d).replace("\n", " ") for d in differences[:3])
            raise RoundTripFailed(f"{name}: {label}: {len(differences)} difference(s): {listed}")
        changed_rows = sorted(t for t in before if rows.get(t) != before[t])
        if changed_rows:
            raise RoundTripFailed(
                f"{name}: {label}: rows changed in {', '.join(changed_rows)}: "
                + "; ".join(f"{t} {before[t][0]} -> {rows.get(t, (0, ''))[0]} rows" for t in changed_rows)
            )

    step("apply", lambda: migrate(dsn, schema_dir))
    step("verify at the new head", lambda: verify("verify at the new head", head_catalog, head))

    def refused() -> None:
        try:
            undo_last(dsn, schema_dir)
        except DataLossRefused as exc:
            missing = [item for item in generated.undo_loses if item not in str(exc)]
            if missing:
                raise RoundTripFailed(f"{name}: undo refused without naming {', '.join(missing)}: {exc}") from None
            return
        raise RoundTripFailed(f"{name}: undo ran although it loses {'; '.join(generated.undo_loses)}")

    if generated.undo_loses:
        step("undo refused (loses data)", refused)
    step("undo", lambda: undo_last(dsn, schema_dir, allow_data_loss=True))
    step("verify at the previous release", lambda: verify("verify at the previous release", before_catalog, released))
    down = next(text for fname, text in generated.files.items() if fname.startswith(f"{workflow.DOWN_DIR}/"))
    step("down script again", lambda: _run_again(dsn, down))
    step("verify again", lambda: verify("verify after the down script ran again", before_catalog, released))
    step("apply again", lambda: migrate(dsn, schema_dir))
    step("verify at the new head again", lambda: verify("verify at the new head again", head_catalog, head))
    return RoundTrip(name, generated, first, steps)


def _run_again(dsn: str, down: str) -> None:
    """Run a down script once more, as ``undo`` runs it (its transactional part in one transaction)."""
    tx_part, _, online_part = down.partition(NO_TRANSACTION_MARK)
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.transaction():
            for statement in split(tx_part):
                conn.execute(statement.encode())
        for statement in split(online_part):
            conn.execute(statement.encode())
