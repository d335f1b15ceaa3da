"""Migration cases: the version files apply, re-apply harmlessly, and fail atomically.

Each case gets a connection to an empty, throwaway database (``needs="empty"``):

``migration:apply-in-order``
    every ``V<n>__<name>.sql`` of the project's ``schema/`` applies, in version order, with
    :func:`orders_schema.live.apply.apply_file` (each file in one transaction unless marked
    no-transaction).
``migration:reapply``
    each file, applied a second time right after itself (a retried or repeated deploy), succeeds
    and leaves the catalogue unchanged. Replaying an old file on a newer database is not a
    supported operation (V10's backfill names a key V13 widened), so it is not what is judged.
``migration:atomic:<file>``
    on a database at the previous version, a copy of the file with a deliberately failing
    statement appended fails with :class:`~orders_schema.live.apply.ApplyError` naming the file and the
    appended statement's SQLSTATE, and the catalogue is exactly as before. A file marked
    no-transaction is applied statement by statement and promises no atomicity: skipped.

"Unchanged" is judged on a :func:`~orders_schema.live.inspect.snapshot` of the catalogue (the
catalogue reader lives with the others, in :mod:`orders_schema.live.inspect`): one line per schema
object of every non-system schema, in PostgreSQL's own rendering (``format_type``, ``pg_get_constraintdef``,
``pg_get_indexdef``, ``pg_get_triggerdef``, ``pg_get_functiondef``, ``pg_get_viewdef``, ...),
without OIDs, so an object dropped and re-created identically counts as unchanged.
"""

from __future__ import annotations

import difflib
import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg

from orders_schema.declare.project import Project
from orders_schema.live.apply import ApplyError, apply_file
from orders_schema.live.inspect import snapshot
from orders_schema.store.files import VersionFile, version_files
from orders_schema.tester.checks import Case, CheckResult, failed, passed, skipped, verdict

FAIL_SQLSTATE = "OS901"
"""The SQLSTATE of the appended statement, so the failure is known to be ours, at the end."""

FAILING_STATEMENT = f"""
;
-- Appended by the orders-schema migration tester: this must fail and take the whole file with it.
DO $orders_schema$ BEGIN
    RAISE EXCEPTION 'deliberate failure appended by orders-schema' USING ERRCODE = '{FAIL_SQLSTATE}';
END $orders_schema$;
"""

def fingerprint(lines: Sequence[str]) -> str:
    """A short, stable digest of a :func:`snapshot`."""
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def snapshot_diff(before: Sequence[str], after: Sequence[str], limit: int = 20) -> list[str]:
    """The lines that differ (``-`` before, ``+`` after), at most ``limit``."""
    out = [
        line
        for line in difflib.unified_diff(list(before), list(after), lineterm="", n=0)
        if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
    ]
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


def _apply_all(conn: psycopg.Connection, files: Sequence[VersionFile]) -> str | None:
    """Apply files in order; the error message of the first that fails."""
    for file in files:
        try:
            apply_file(conn, file)
        except ApplyError as exc:
            return str(exc)
    return None


def _no_files(project: Project) -> CheckResult:
    return failed(f"no V<n>__<name>.sql files in {project.schema_dir}/ (run `orders-schema render`)")


def apply_in_order_case(project: Project) -> Case:
    def run(conn: psycopg.Connection) -> CheckResult:
        files = version_files(project.schema_dir)
        if not files:
            return _no_files(project)
        error = _apply_all(conn, files)
        if error:
            return failed(f"applying {project.schema_dir}/ to an empty database in version order failed: {error}")
        return passed(f"{len(files)} files applied in order ({', '.join(f.path.name for f in files)})")

    return Case("migration:apply-in-order", run, needs="empty", description="empty -> head")


def reapply_case(project: Project) -> Case:
    def run(conn: psycopg.Connection) -> CheckResult:
        files = version_files(project.schema_dir)
        if not files:
            return _no_files(project)
        problems: list[str] = []
        for file in files:
            error = _apply_all(conn, [file])
            if error:
                return failed(f"applying every file once failed, so re-applying cannot be judged: {error}")
            before = snapshot(conn)
            error = _apply_all(conn, [file])
            if error:
                return failed(f"re-applying a file to the database it had just built failed: {error}")
            problems += [f"{file.path.name}: the catalogue changed: {line}"
                         for line in snapshot_diff(before, snapshot(conn))]
        subject = f"re-applying each file of {project.schema_dir}/ right after it"
        return verdict(subject, problems, f"succeeds and leaves the catalogue unchanged ({len(files)} files)")

    return Case("migration:reapply", run, needs="empty", description="re-applying each file changes nothing")


def atomic_case(project: Project, file: VersionFile) -> Case:
    name = file.path.name

    def run(conn: psycopg.Connection) -> CheckResult:
        if not file.transactional:
            return skipped(f"{name} is marked no-transaction: applied statement by statement, it promises no atomicity")
        earlier = [f for f in version_files(project.schema_dir) if f.number < file.number]
        error = _apply_all(conn, earlier)
        if error:
            return failed(f"{name}: could not bring the database to the previous version: {error}")
        before = snapshot(conn)
        subject = f"{name} with a failing statement appended"
        with tempfile.TemporaryDirectory(prefix="orders-schema-") as tmp:
            broken = VersionFile(file.number, file.name, Path(tmp) / name)
            broken.path.write_text(file.text.rstrip() + "\n" + FAILING_STATEMENT, encoding="utf-8")
            try:
                apply_file(conn, broken)
            except ApplyError as exc:
                raised: ApplyError | None = exc
            else:
                raised = None
        problems: list[str] = []
        if raised is None:
            problems.append("applied without error; expected the appended statement to fail")
        else:
            if raised.file != name or name not in str(raised):
                problems.append(f"the error does not name the file: {raised}")
            if raised.sqlstate != FAIL_SQLSTATE:
                problems.append(f"failed before reaching the appended statement: {raised}")
        after = snapshot(conn)
        problems += [f"the failed apply changed the catalogue: {line}" for line in snapshot_diff(before, after)]
        return verdict(subject, problems, "fails naming the file and leaves the catalogue exactly as before")

    return Case(f"migration:atomic:{name}", run, needs="empty", description=f"a failing {name} changes nothing")


def cases(project: Project) -> list[Case]:
    """The migration cases of the project's ``schema/`` folder (each needs an empty database)."""
    out = [apply_in_order_case(project), reapply_case(project)]
    out += [atomic_case(project, f) for f in version_files(project.schema_dir)]
    return out


__all__ = ["FAIL_SQLSTATE", "cases", "fingerprint", "snapshot", "snapshot_diff"]
