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

"Unchanged" is judged on a :func:`snapshot` of the catalogue: one line per schema object of every
non-system schema, in PostgreSQL's own rendering (``format_type``, ``pg_get_constraintdef``,
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
from orders_schema.store.files import VersionFile, version_files
from orders_schema.tester.checks import Case, CheckResult, failed, passed, skipped, verdict
from orders_schema.tester.checks.rows import query

FAIL_SQLSTATE = "OS901"
"""The SQLSTATE of the appended statement, so the failure is known to be ours, at the end."""

FAILING_STATEMENT = f"""
;
-- Appended by the orders-schema migration tester: this must fail and take the whole file with it.
DO $orders_schema$ BEGIN
    RAISE EXCEPTION 'deliberate failure appended by orders-schema' USING ERRCODE = '{FAIL_SQLSTATE}';
END $orders_schema$;
"""

SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast"]

# One query per kind of object; each returns one text column. Schemas are filtered with a bound
# parameter; everything is rendered by the server's own pg_get_*def / format_type functions.
_SNAPSHOT_QUERIES: tuple[str, ...] = (
    """SELECT 'schema ' || n.nspname
    FROM pg_namespace n WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT 'extension ' || e.extname || ' ' || e.extversion || ' in ' || n.nspname
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace""",
    """SELECT format('relation %%I.%%I kind=%%s persistence=%%s rls=%%s options=%%s acl=%%s',
        n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.reloptions, c.relacl)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('column %%I.%%I.%%I %%s notnull=%%s default=%%s identity=%%s generated=%%s collation=%%s',
        n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
        pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation::regcollation)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
      AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('constraint %%I.%%s %%I %%s validated=%%s deferrable=%%s',
        n.nspname, COALESCE(c.relname, 'type ' || t.typname), k.conname, pg_get_constraintdef(k.oid),
        k.convalidated, k.condeferrable)
    FROM pg_constraint k
    JOIN pg_namespace n ON n.oid = k.connamespace
    LEFT JOIN pg_class c ON c.oid = k.conrelid
    LEFT JOIN pg_type t ON t.oid = k.contypid
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('index %%I.%%I %%s valid=%%s', n.nspname, c.relname, pg_get_indexdef(i.indexrelid),
        i.indisvalid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('trigger %%I.%%I %%s enabled=%%s', n.nspname, c.relname, pg_get_triggerdef(t.oid),
        t.tgenabled)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('function %%I.%%I(%%s) md5=%%s acl=%%s', n.nspname, p.proname,
        pg_get_function_identity_arguments(p.oid), md5(pg_get_functiondef(p.oid)), p.proacl)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prokind IN ('f', 'p') AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('view %%I.%%I md5=%%s', n.nspname, c.relname, md5(pg_get_viewdef(c.oid)))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('v', 'm') AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('sequence %%I.%%I %%s start=%%s increment=%%s min=%%s max=%%s cache=%%s cycle=%%s',
        n.nspname, c.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
        s.seqcache, s.seqcycle)
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('type %%I.%%I kind=%%s base=%%s notnull=%%s default=%%s labels=%%s', n.nspname, t.typname,
        t.typtype, NULLIF(t.typbasetype, 0)::regtype, t.typnotnull, t.typdefault,
        (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR
          (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
      AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('policy %%I.%%I %%I cmd=%%s permissive=%%s using=%%s check=%%s', n.nspname, c.relname,
        p.polname, p.polcmd, p.polpermissive, pg_get_expr(p.polqual, p.polrelid),
        pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s)""",
    """SELECT format('comment %%s %%s md5=%%s', o.type, o.identity, md5(d.description))
    FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
    WHERE o.schema IS NOT NULL AND NOT o.schema = ANY(%(system)s) AND o.schema NOT LIKE 'pg\\_%%'""",
)


def snapshot(conn: psycopg.Connection) -> tuple[str, ...]:
    """The catalogue of every non-system schema, one sorted line per object (no OIDs)."""
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    lines: list[str] = []
    for text in _SNAPSHOT_QUERIES:
        lines += [str(r[0]) for r in conn.execute(query(text), {"system": SYSTEM_SCHEMAS}).fetchall()]
    if idle and not conn.autocommit:
        conn.rollback()  # end the read-only transaction the snapshot opened (apply needs none open)
    return tuple(sorted(lines))


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
