"""Applying version files to a database.

A version file is applied in one transaction unless it says it cannot be (a first line
``-- orders-schema: no-transaction``, written for CREATE/DROP INDEX CONCURRENTLY); so a failing
file leaves the database exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .project import VERSION_FILE

NO_TRANSACTION_MARK = "-- orders-schema: no-transaction"


class ApplyError(RuntimeError):
    """A version file failed; the message names the file and PostgreSQL's error."""

    def __init__(self, file: str, error: psycopg.Error) -> None:
        diag = error.diag
        where = f" ({diag.context.strip().splitlines()[0]})" if diag.context else ""
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


def split_statements(text: str) -> list[str]:
    """Split a no-transaction file into statements (it holds no function bodies or quotes with ';')."""
    body = re.sub(r"--[^\n]*", "", text)
    return [s.strip() for s in body.split(";") if s.strip()]


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
                for stmt in split_statements(text):
                    conn.execute(stmt.encode())
            finally:
                conn.autocommit = previous
    except psycopg.Error as exc:
        raise ApplyError(file.path.name, exc) from exc


def apply_files(conn: psycopg.Connection, files: Iterable[VersionFile]) -> None:
    for file in files:
        apply_file(conn, file)
