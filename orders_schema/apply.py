"""Applying version files to a database.

A version file is applied in one transaction unless it says it cannot be (a first line
``-- orders-schema: no-transaction``, written for CREATE/DROP INDEX CONCURRENTLY); so a failing
file leaves the database exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .lint import split
from .project import NO_TRANSACTION_MARK, VERSION_FILE, sha256
from .quoting import ident, qualified


class ApplyError(RuntimeError):
    """A version file failed; the message names the file and PostgreSQL's error."""

    def __init__(self, file: str, error: psycopg.Error) -> None:
        diag = error.diag
        context = (diag.context or "").strip()
        where = f" ({context.splitlines()[0]})" if context else ""
        super().__init__(f"{file}: {diag.sqlstate or ''} {diag.message_primary or error}{where}".strip())
        self.file = file
        self.sqlstate = diag.sqlstate


@dataclass(frozen=True)
class VersionFile:
    number: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def transactional(self) -> bool:
        return not self.text.startswith(NO_TRANSACTION_MARK)


def version_files(schema_dir: Path) -> list[VersionFile]:
    """The ``V<n>__<name>.sql`` files of a folder in version order."""
    files = []
    for path in schema_dir.glob("V*__*.sql"):
        match = VERSION_FILE.match(path.name)
        if match:
            files.append(VersionFile(int(match["number"]), match["name"], path))
    return sorted(files, key=lambda f: f.number)


def apply_file(conn: psycopg.Connection, file: VersionFile) -> None:
    """Apply one file: atomically when transactional, else statement by statement."""
    text = file.text
    try:
        if file.transactional:
            with conn.transaction():
                conn.execute(text.encode())
        else:
            previous = conn.autocommit
            conn.autocommit = True
            try:
                for stmt in split(text):
                    conn.execute(stmt.encode())
            finally:
                conn.autocommit = previous
    except psycopg.Error as exc:
        raise ApplyError(file.path.name, exc) from exc


def apply_files(conn: psycopg.Connection, files: Iterable[VersionFile]) -> None:
    for file in files:
        apply_file(conn, file)


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


def _history(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    table = qualified(HISTORY_SCHEMA, HISTORY_TABLE)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(HISTORY_SCHEMA)}".encode())
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {table} (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            transactional boolean NOT NULL,
            execution_ms integer NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            applied_by text NOT NULL DEFAULT current_user
        )""".encode()
    )
    rows = conn.execute(f"SELECT version, name, checksum FROM {table} ORDER BY version".encode()).fetchall()
    return {int(v): (str(n), str(c)) for v, n, c in rows}


def _record(conn: psycopg.Connection, file: VersionFile, checksum: str, ms: int) -> None:
    conn.execute(
        f"INSERT INTO {qualified(HISTORY_SCHEMA, HISTORY_TABLE)} "
        "(version, name, checksum, transactional, execution_ms) VALUES (%s, %s, %s, %s, %s)".encode(),
        (file.number, file.name, checksum, file.transactional, ms),
    )


def invalid_indexes(conn: psycopg.Connection) -> list[str]:
    """Indexes left INVALID by a failed CREATE INDEX CONCURRENTLY."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def pending_versions(conn: psycopg.Connection, schema_dir: Path) -> list[VersionFile]:
    """Files not yet applied; refuses when the history and the files disagree."""
    history = _history(conn)
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
    last = max(history, default=0)
    skipped = [f.path.name for f in files if f.number < last and f.number not in history]
    if skipped:
        raise ApplyRefused(f"{', '.join(skipped)} would apply out of order (the database is at V{last})")
    return [f for f in files if f.number > last]


def _lock(conn: psycopg.Connection, wait_seconds: float) -> None:
    """Take the appliers' advisory lock, waiting client-side.

    A waiter must not sit inside a statement: CREATE INDEX CONCURRENTLY in the applier holding the
    lock waits for every open transaction, including a backend blocked in pg_advisory_lock, which
    would deadlock. So we poll pg_try_advisory_lock between short sleeps.
    """
    import time

    deadline = time.monotonic() + wait_seconds
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [LOCK_KEY]).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise ApplyRefused(f"another apply has held the lock for over {wait_seconds:.0f} s; nothing was applied")
        time.sleep(0.1)


def migrate(dsn: str, schema_dir: Path, target: int | None = None, wait_seconds: float = 600) -> list[Applied]:
    """Apply every pending version up to ``target`` under an advisory lock; return what was applied.

    Each transactional file and its history row commit together. A no-transaction file runs
    statement by statement; if it leaves an INVALID index behind, apply stops and says so.
    """
    import time

    applied: list[Applied] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        _lock(conn, wait_seconds)
        try:
            for file in pending_versions(conn, schema_dir):
                if target is not None and file.number > target:
                    break
                checksum = sha256(file.text)
                started = time.perf_counter()
                if file.transactional:
                    try:
                        with conn.transaction():
                            conn.execute(file.text.encode())
                            _record(conn, file, checksum, int((time.perf_counter() - started) * 1000))
                    except psycopg.Error as exc:
                        raise ApplyError(file.path.name, exc) from exc
                else:
                    apply_file(conn, file)
                    broken = invalid_indexes(conn)
                    if broken:
                        raise ApplyRefused(
                            f"{file.path.name} left invalid index(es) {broken}: DROP INDEX CONCURRENTLY them, "
                            "then run apply again"
                        )
                    _record(conn, file, checksum, int((time.perf_counter() - started) * 1000))
                applied.append(Applied(file.number, file.name, int((time.perf_counter() - started) * 1000)))
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [LOCK_KEY])
    return applied


def undo_last(dsn: str, schema_dir: Path) -> list[int]:
    """Run the down script of the last applied generation and forget its versions; return them."""
    from .project import read_manifest

    entries = read_manifest(schema_dir).get("versions", [])
    with psycopg.connect(dsn, autocommit=True) as conn:
        _lock(conn, 600)
        try:
            history = _history(conn)
            if not history:
                raise ApplyRefused("nothing is applied")
            last = max(history)
            owner = next((e for e in entries if e.get("down") and e["version"] == last), None)
            if owner is None:
                raise ApplyRefused(f"V{last} has no down script (only generated versions can be undone)")
            versions = _generation(entries, last)
            text = (schema_dir / owner["down"]).read_text(encoding="utf-8")
            tx_part, _, online_part = text.partition(NO_TRANSACTION_MARK)
            with conn.transaction():
                conn.execute(tx_part.encode())
                conn.execute(
                    f"DELETE FROM {qualified(HISTORY_SCHEMA, HISTORY_TABLE)} WHERE version = ANY(%s)".encode(),
                    [versions],
                )
            for stmt in split(online_part) if online_part.strip() else []:
                conn.execute(stmt.encode())
            return versions
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [LOCK_KEY])


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
