"""Applying version files to a database.

A version file is applied in one transaction unless it says it cannot be (a first line
``-- orders-schema: no-transaction``, written for CREATE/DROP INDEX CONCURRENTLY); so a failing
file leaves the database exactly as it was.

A no-transaction file that fails or is cut off half-way may leave an INVALID index behind (a
CREATE INDEX CONCURRENTLY that timed out on a lock or whose backend was terminated). Such an index
is debris of that try: :func:`migrate` drops it concurrently before running the file again, so the
re-run rebuilds it. Only the indexes the file itself creates are touched (derived from its
statements); INVALID indexes of anyone else are not apply's business.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import sqlglot
from sqlglot import exp

from orders_schema.declare.quoting import ident, qualified
from orders_schema.store.files import (
    MANIFEST,
    NO_TRANSACTION_MARK,
    VersionFile,
    check_version,
    down_losses,
    read_manifest,
    read_text,
    sha256,
    version_files,
)
from orders_schema.store.statements import split

Progress = Callable[[str], None]


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _record_since(conn: psycopg.Connection[Any], file: VersionFile, checksum: str, started: float) -> None:
    record(conn, file, checksum, _elapsed_ms(started))


def _quiet(message: str) -> None:
    """The default progress callback: say nothing."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _statement_label(index: int, statement: str) -> str:
    first = " ".join(statement.split())
    return f"statement {index} ({first[:90]}{'...' if len(first) > 90 else ''})"


class ApplyError(RuntimeError):
    """A version file failed; the message names the file, the statement and PostgreSQL's error."""

    def __init__(self, file: str, error: psycopg.Error, statement: str | None = None, note: str = "") -> None:
        diag = error.diag
        context = (diag.context or "").strip()
        where = f" ({context.splitlines()[0]})" if context else ""
        message = diag.message_primary or _first_line(error)
        at = f", at {statement}" if statement else ""
        text = f"{file}: {diag.sqlstate or ''} {message}{where}{at}".replace(":  ", ": ")
        super().__init__(text + (f"; {note}" if note else ""))
        self.file = file
        self.statement = statement
        self.sqlstate = diag.sqlstate
        self.error = error

    def with_note(self, note: str) -> ApplyError:
        """The same failure with one more remark (e.g. what a re-run will repair)."""
        return ApplyError(self.file, self.error, self.statement, note)


class Unreachable(RuntimeError):
    """The database could not be reached before anything ran."""






def _run_statements(conn: psycopg.Connection[Any], file: VersionFile, statements: Sequence[str]) -> None:
    """Run statements one by one; a failure names the file and the statement."""
    for i, stmt in enumerate(statements, 1):
        try:
            conn.execute(stmt.encode())
        except psycopg.Error as exc:
            raise ApplyError(file.path.name, exc, _statement_label(i, stmt), _lost_note(conn, file)) from exc


def _lost_note(conn: psycopg.Connection[Any], file: VersionFile) -> str:
    if not (conn.closed or conn.broken):
        return ""
    if file.transactional:
        return f"the connection was lost: nothing of V{file.number} was committed (it runs in one transaction)"
    return f"the connection was lost: V{file.number} runs outside a transaction, its earlier statements were committed"


def apply_file(conn: psycopg.Connection[Any], file: VersionFile, then: Callable[[], None] | None = None) -> None:
    """Apply one file: atomically when transactional, else statement by statement.

    ``then`` runs right after the file's statements, inside its transaction when it has one (the
    history row commits with the version). Whatever the file SET for its session (``search_path``,
    ``lock_timeout``, a role) is reset once it ends, so the next file runs as it would on a
    connection of its own: applying V1 and V2 in one deploy or in two does the same.
    """
    _apply_statements(conn, file, then)
    if not (conn.closed or conn.broken):
        with conn.transaction():  # leaves the connection as idle as it found it
            conn.execute("RESET ALL")
            conn.execute("RESET ROLE")


def _apply_statements(conn: psycopg.Connection[Any], file: VersionFile, then: Callable[[], None] | None) -> None:
    statements = split(file.text)
    if file.transactional:
        try:
            with conn.transaction():
                _run_statements(conn, file, statements)
                if then is not None:
                    then()
        except ApplyError:
            raise
        except psycopg.Error as exc:  # the COMMIT itself (deferred constraints) or a lost connection
            raise ApplyError(file.path.name, exc, None, _lost_note(conn, file)) from exc
    else:
        previous = conn.autocommit
        conn.autocommit = True
        try:
            _run_statements(conn, file, statements)
            if then is not None:
                then()
        finally:
            if not (conn.closed or conn.broken):
                conn.autocommit = previous


def apply_files(conn: psycopg.Connection[Any], files: Iterable[VersionFile]) -> None:
    for file in files:
        apply_file(conn, file)


# ---------------------------------------------------------------------------------------------
# What a version file creates (derived from its statements)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedIndex:
    """An index a version file creates: ``CREATE [UNIQUE] INDEX [CONCURRENTLY] name ON table``.

    ``table`` is as written (qualified or not); the index lives in the table's schema.
    """

    name: str
    table: str
    concurrently: bool


_CREATES_KINDS = {"TABLE", "VIEW", "INDEX", "SCHEMA"}
_BODIES = {"FUNCTION", "PROCEDURE", "TRIGGER"}


def _parsed_creates(text: str) -> list[exp.Create]:
    out = []
    for stmt in split(text):
        head = stmt.upper().split(None, 6)[:6]
        if not head or head[0] != "CREATE" or not _CREATES_KINDS & set(head) or _BODIES & set(head):
            continue  # only tables, views, indexes and schemas are read (sqlglot keeps function bodies as text)
        try:
            tree = sqlglot.parse_one(stmt, read="postgres")
        except sqlglot.errors.SqlglotError:
            continue  # statements sqlglot cannot read (e.g. exotic syntax) create no index we know of
        if isinstance(tree, exp.Create):
            out.append(tree)
    return out


def created_indexes(text: str) -> list[CreatedIndex]:
    """The indexes a version file's statements create, in order."""
    out = []
    for tree in _parsed_creates(text):
        index = tree.this
        if str(tree.args.get("kind") or "").upper() != "INDEX" or not isinstance(index, exp.Index):
            continue
        table = index.args.get("table")
        if not isinstance(index.this, exp.Identifier) or not isinstance(table, exp.Table):
            continue
        schema, name = table.args.get("db"), table.this
        if not isinstance(name, exp.Identifier):
            continue
        table_name = ident(_folded(name))
        if isinstance(schema, exp.Identifier):
            table_name = qualified(_folded(schema), _folded(name))
        out.append(CreatedIndex(_folded(index.this), table_name, bool(tree.args.get("concurrently"))))
    return out


def _folded(identifier: exp.Identifier) -> str:
    """The name as PostgreSQL stores it: unquoted identifiers fold to lower case."""
    return str(identifier.this) if identifier.quoted else str(identifier.this).lower()


def created_schemas(texts: Iterable[str]) -> list[str]:
    """The schemas version files create objects in (CREATE SCHEMA, and qualified CREATE TABLE/VIEW/INDEX)."""
    found: list[str] = []
    for text in texts:
        for tree in _parsed_creates(text):
            kind = str(tree.args.get("kind") or "").upper()
            target = tree.this
            if kind == "INDEX" and isinstance(target, exp.Index):
                target = target.args.get("table")
            elif isinstance(target, exp.Schema):  # CREATE TABLE t (columns)
                target = target.this
            if not isinstance(target, exp.Table):
                continue
            name = target.args.get("db")  # sqlglot reads CREATE SCHEMA s as a table whose db is s
            if isinstance(name, exp.Identifier) and _folded(name) not in found:
                found.append(_folded(name))
    return found


# ---------------------------------------------------------------------------------------------
# apply: pending versions, recorded in a history table, one applier at a time
# ---------------------------------------------------------------------------------------------

HISTORY_SCHEMA = "orders_schema"
HISTORY_TABLE = "history"
LOCK_KEY = "orders_schema.apply"


class ApplyRefused(RuntimeError):
    """The database and the files disagree about what was released; nothing was applied."""


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    milliseconds: int


def _history_exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [qualified(HISTORY_SCHEMA, HISTORY_TABLE)]).fetchone()
    return bool(row and row[0])


def read_history(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str]]:
    """Version -> (name, checksum) of what the history table records; empty when it does not exist."""
    if not _history_exists(conn):
        return {}
    rows = conn.execute(
        f"SELECT version, name, checksum FROM {qualified(HISTORY_SCHEMA, HISTORY_TABLE)} ORDER BY version".encode()
    ).fetchall()
    return {int(v): (str(n), str(c)) for v, n, c in rows}


def _create_history(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(HISTORY_SCHEMA)}".encode())
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {qualified(HISTORY_SCHEMA, HISTORY_TABLE)} (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            transactional boolean NOT NULL,
            execution_ms integer NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            applied_by text NOT NULL DEFAULT current_user
        )""".encode()
    )


def record(conn: psycopg.Connection[Any], file: VersionFile, checksum: str, ms: int) -> None:
    """Record ``file`` as applied in the history table."""
    conn.execute(
        f"INSERT INTO {qualified(HISTORY_SCHEMA, HISTORY_TABLE)} "
        "(version, name, checksum, transactional, execution_ms) VALUES (%s, %s, %s, %s, %s)".encode(),
        (file.number, file.name, checksum, file.transactional, ms),
    )


def invalid_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    """Every index of the database left INVALID (by a failed CREATE INDEX CONCURRENTLY, anyone's)."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def own_invalid_indexes(conn: psycopg.Connection[Any], file: VersionFile) -> list[tuple[str, str]]:
    """(schema, name) of the INVALID indexes ``file`` creates, on the table it creates them on."""
    return _invalid_created(conn, file.text)


def _invalid_created(conn: psycopg.Connection[Any], text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index in created_indexes(text):
        rows = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.indrelid = to_regclass(%s) AND c.relname = %s AND NOT i.indisvalid",
            (index.table, index.name),
        ).fetchall()
        found += [(str(s), str(n)) for s, n in rows if (str(s), str(n)) not in found]
    return found






def released_problems(schema_dir: Path) -> list[str]:
    """How the version files differ from what ``released.json`` records (SHA-256); empty when they agree."""
    manifest = read_manifest(schema_dir)
    entries = manifest.get("versions", []) if isinstance(manifest, dict) else []
    if not (schema_dir / MANIFEST).exists():
        return [f"{schema_dir}/{MANIFEST} is missing: nothing is released, so nothing can be applied"]
    recorded = {str(e.get("file")): str(e.get("sha256")) for e in entries if isinstance(e, dict)}
    problems = []
    on_disk = {f.path.name: f for f in version_files(schema_dir)}
    for name, sha in recorded.items():
        file = on_disk.get(name)
        if file is None:
            problems.append(f"{name} is released ({MANIFEST}) but missing from {schema_dir}/")
            continue
        actual = sha256(file.text)
        if actual != sha:
            problems.append(
                f"{name} differs from its release (recorded sha256 {sha[:12]} in {MANIFEST}, file has {actual[:12]}): "
                "a released file was edited; restore it and put the change in a new version"
            )
    for name in sorted(set(on_disk) - set(recorded), key=lambda n: on_disk[n].number):
        problems.append(f"{name} is not released (not in {MANIFEST}): only released files are applied")
    return problems


def pending_versions(conn: psycopg.Connection[Any], schema_dir: Path) -> list[VersionFile]:
    """Files not yet applied; refuses when the history, the files and ``released.json`` disagree."""
    history = read_history(conn)
    files = version_files(schema_dir)
    by_number = {f.number: f for f in files}
    for number, (name, checksum) in history.items():
        file = by_number.get(number)
        if file is None:
            raise ApplyRefused(f"V{number}__{name} is recorded as applied but its file is missing from {schema_dir}/")
        actual = sha256(file.text)
        if actual != checksum:
            raise ApplyRefused(
                f"{file.path.name} differs from what was applied (recorded sha256 {checksum[:12]}, file has "
                f"{actual[:12]}): a released file was edited; restore it and put the change in a new version"
            )
    problems = released_problems(schema_dir)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApplyRefused(f"{problems[0]}{more}; nothing was applied")
    last = max(history, default=0)
    skipped = [f.path.name for f in files if f.number < last and f.number not in history]
    if skipped:
        raise ApplyRefused(f"{', '.join(skipped)} would apply out of order (the database is at V{last})")
    if not history:
        _refuse_unrecorded_objects(conn, files)
    return [f for f in files if f.number > last]


def _refuse_unrecorded_objects(conn: psycopg.Connection[Any], files: list[VersionFile]) -> None:
    """No history, yet the schemas the files create objects in hold some: a database built by hand."""
    schemas = created_schemas(f.text for f in files)
    if not schemas:
        return
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
        "UNION ALL SELECT n.nspname || '.' || p.proname || '()' FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s) ORDER BY 1",
        (schemas, schemas),
    ).fetchall()
    if rows:
        objects = [str(r[0]) for r in rows]
        where = f"schema {schemas[0]}" if len(schemas) == 1 else f"schemas {', '.join(schemas)}"
        raise ApplyRefused(
            f"{where} already holds {len(objects)} object(s) (e.g. {', '.join(objects[:3])}) but "
            f"{HISTORY_SCHEMA}.{HISTORY_TABLE} records no version, so apply would re-run every version over them; "
            "adopt the database with `orders-schema baseline --dsn DSN [--version N]` (it checks the live schema "
            "matches version N and records versions up to N), then run apply again"
        )


def _lock(conn: psycopg.Connection[Any], wait_seconds: float) -> None:
    """Take the appliers' advisory lock, waiting client-side.

    A waiter must not sit inside a statement: CREATE INDEX CONCURRENTLY in the applier holding the
    lock waits for every open transaction, including a backend blocked in pg_advisory_lock, which
    would deadlock. So we poll pg_try_advisory_lock between short sleeps.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [LOCK_KEY]).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise ApplyRefused(f"another apply has held the lock for over {wait_seconds:.0f} s; nothing was applied")
        time.sleep(0.1)


def _unlock(conn: psycopg.Connection[Any]) -> None:
    if conn.closed or conn.broken:
        return  # the server released the session's lock with the session
    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [LOCK_KEY])


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection; :class:`Unreachable` when the server cannot be reached."""
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise Unreachable(f"cannot connect: {str(exc).strip().splitlines()[0]}") from None


_DETACH = re.compile(r"^ALTER\s+TABLE\s+(.+?)\s+DETACH\s+PARTITION\s+(.+?)\s+CONCURRENTLY\s*;", re.I | re.M)


def pending_detaches(conn: psycopg.Connection[Any], file: VersionFile) -> list[tuple[str, str]]:
    """The partitions ``file`` detaches ``CONCURRENTLY`` that an interrupted try left pending
    (``pg_inherits.inhdetachpending``): (parent, partition), qualified."""
    out = []
    for parent, part in _DETACH.findall(file.text):
        row = conn.execute(
            "SELECT pn.nspname, p.relname, cn.nspname, c.relname FROM pg_catalog.pg_inherits i"
            " JOIN pg_catalog.pg_class p ON p.oid = i.inhparent"
            " JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace"
            " JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace"
            " WHERE i.inhparent = pg_catalog.to_regclass(%s) AND i.inhrelid = pg_catalog.to_regclass(%s)"
            " AND i.inhdetachpending",
            [parent, part],
        ).fetchone()
        if row is not None:
            out.append((qualified(row[0], row[1]), qualified(row[2], row[3])))
    return out


def _heal(conn: psycopg.Connection[Any], file: VersionFile, progress: Progress) -> None:
    """What an earlier, interrupted try of ``file`` left: INVALID indexes are dropped (the file
    rebuilds them) and a pending ``DETACH ... CONCURRENTLY`` is finished (``FINALIZE``; the file
    then drops the detached partition, as it would have)."""
    for schema, name in own_invalid_indexes(conn, file):
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, name)}".encode())
        progress(
            f"repaired: dropped invalid index {qualified(schema, name)} left by an earlier try of "
            f"{file.path.name}; rebuilding"
        )
    for parent, part in pending_detaches(conn, file):
        conn.execute(f"ALTER TABLE {parent} DETACH PARTITION {part} FINALIZE".encode())
        progress(f"repaired: finished the detach of {part} from {parent} an earlier try of {file.path.name} left "
                 "pending")


def _apply_online(conn: psycopg.Connection[Any], file: VersionFile, progress: Progress) -> None:
    """A no-transaction file: heal what an earlier try left, run it, check its own indexes are valid."""
    _heal(conn, file, progress)
    try:
        apply_file(conn, file)
    except ApplyError as exc:
        left = [] if conn.closed or conn.broken else own_invalid_indexes(conn, file)
        if left:
            names = ", ".join(qualified(s, n) for s, n in left)
            note = f"it left invalid index(es) {names}: apply again drops and rebuilds them"
            raise exc.with_note(note) from exc.error
        raise
    left = own_invalid_indexes(conn, file)
    if left:  # cannot happen through the file's own statements; someone raced it
        names = ", ".join(qualified(s, n) for s, n in left)
        raise ApplyRefused(f"{file.path.name} finished but its index(es) {names} are INVALID: run apply again")


def migrate(
    dsn: str,
    schema_dir: Path,
    target: int | None = None,
    wait_seconds: float = 600,
    progress: Progress = _quiet,
) -> list[Applied]:
    """Apply every pending version up to ``target`` under an advisory lock; return what was applied.

    Before anything runs: ``target`` must be a version of ``schema_dir`` (ValueError), every file
    must match its SHA-256 in ``released.json`` and what the history recorded, and a database with
    no history must not already hold objects in the schemas the files create (ApplyRefused).
    Each transactional file and its history row commit together. A no-transaction file runs
    statement by statement; INVALID indexes an earlier try of it left are dropped first (reported
    through ``progress``) so that it rebuilds them. A failure raises :class:`ApplyError` naming the
    file and statement (also when the connection is lost); :class:`Unreachable` when the server
    cannot be reached at all.
    """
    check_version(schema_dir, target)
    applied: list[Applied] = []
    with connect(dsn) as conn:
        try:
            _lock(conn, wait_seconds)
            try:
                pending = pending_versions(conn, schema_dir)
                if pending and target is not None:
                    pending = [f for f in pending if f.number <= target]
                if pending:
                    _create_history(conn)
                for file in pending:
                    checksum = sha256(file.text)
                    started = time.perf_counter()
                    if file.transactional:
                        apply_file(conn, file, partial(_record_since, conn, file, checksum, started))
                    else:
                        _apply_online(conn, file, progress)
                        record(conn, file, checksum, _elapsed_ms(started))
                    done = Applied(file.number, file.name, _elapsed_ms(started))
                    applied.append(done)
                    progress(f"applied V{done.version}__{done.name} in {done.milliseconds} ms")
            finally:
                _unlock(conn)
        except (ApplyError, ApplyRefused):
            raise
        except psycopg.Error as exc:  # between files: reading history, recording, the lock
            where = f" after V{applied[-1].version}" if applied else " before any version ran"
            raise ApplyRefused(f"the database failed{where}: {_first_line(exc)}") from exc
    return applied


class DataLossRefused(ApplyRefused):
    """Undoing would drop data the versions let users write (a column, a table); nothing was undone."""


def undo_losses(text: str) -> list[str]:
    """What running a down script loses: its marker lines (written by ``generate``), else, for a
    script without them, the columns and tables its statements drop."""
    from orders_schema.migrate.lint import lint_text  # lint reads SQL; apply needs it only here

    marked = down_losses(text)
    if marked is not None:
        return marked
    return [h.detail for linted in lint_text(text) for h in linted.hazards
            if h.kind == "data-loss" and h.detail.startswith("drops")]


def undo_last(dsn: str, schema_dir: Path, allow_data_loss: bool = False, progress: Progress = _quiet) -> list[int]:
    """Run the down script of the last applied generation and forget its versions; return them.

    Refused (:class:`DataLossRefused`, nothing run) when the script loses data (see
    :func:`undo_losses`) unless ``allow_data_loss``. The part before the no-transaction mark runs
    in one transaction: a failing statement (named in the :class:`ApplyError`) rolls it back and
    the database stays at the version it was at. When there is an online part, it runs after that
    transaction commits and the versions are forgotten only once it succeeds: if it fails, the
    history still records them and ``undo`` again finishes the work (the down script is
    re-runnable; INVALID indexes a failed CONCURRENTLY build left are dropped first)."""
    entries = read_manifest(schema_dir).get("versions", [])
    with connect(dsn) as conn:
        _lock(conn, 600)
        try:
            history = read_history(conn)
            if not history:
                raise ApplyRefused("nothing is applied")
            last = max(history)
            owner = next((e for e in entries if e.get("down") and e["version"] == last), None)
            if owner is None:
                raise ApplyRefused(f"V{last} has no down script (only generated versions can be undone)")
            versions = _generation(entries, last)
            down = schema_dir / owner["down"]
            if not down.is_file():
                raise ApplyRefused(f"V{last}'s down script {down} is missing; nothing was undone")
            text = read_text(down)
            listed = ", ".join(f"V{v}" for v in versions)
            lost = undo_losses(text)
            if lost and not allow_data_loss:
                raise DataLossRefused(
                    f"undoing {listed} loses data: {'; '.join(lost)} ({owner['down']}); nothing was undone "
                    "(run undo with --allow-data-loss to accept the loss)"
                )
            tx_part, _, online_part = text.partition(NO_TRANSACTION_MARK)
            tx, online = split(tx_part), split(online_part)
            forget = f"DELETE FROM {qualified(HISTORY_SCHEMA, HISTORY_TABLE)} WHERE version = ANY(%s)".encode()
            still = f"nothing was undone: the database is still at V{last}"
            try:
                with conn.transaction():
                    _run_down(conn, owner["down"], tx, 1)
                    if not online:
                        conn.execute(forget, [versions])
            except ApplyError as exc:
                raise exc.with_note(still) from exc.error
            except psycopg.Error as exc:  # the COMMIT itself, or a lost connection
                raise ApplyError(owner["down"], exc, None, still) from exc
            if online:
                conn.autocommit = True
                for schema, name in _invalid_created(conn, online_part):
                    conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, name)}".encode())
                    progress(f"repaired: dropped invalid index {qualified(schema, name)} left by an earlier undo")
                try:
                    _run_down(conn, owner["down"], online, len(tx) + 1)
                except ApplyError as exc:
                    done = "its transactional part was committed but " if tx else ""
                    raise exc.with_note(
                        f"{done}the history still records {listed}: "
                        "fix the cause and run undo again (the down script is re-runnable)"
                    ) from exc.error
                conn.execute(forget, [versions])
            return versions
        finally:
            _unlock(conn)


def _run_down(conn: psycopg.Connection[Any], label: str, statements: Sequence[str], first: int) -> None:
    """A down script's statements one by one (numbered from ``first`` in the file); a failure names it."""
    for i, stmt in enumerate(statements, first):
        try:
            conn.execute(stmt.encode())
        except psycopg.Error as exc:
            raise ApplyError(label, exc, _statement_label(i, stmt)) from exc


def _generation(entries: list[dict[str, object]], last: int) -> list[int]:
    """The versions written by the same ``generate`` as ``last`` (down scripts sit on the last one)."""
    numbers = [int(str(e["version"])) for e in entries]
    i = numbers.index(last)
    group = [last]
    j = i - 1
    while j >= 0 and entries[j].get("generated") and not entries[j].get("down"):
        group.insert(0, numbers[j])
        j -= 1
    return group
