"""The test server and its databases, with no pytest in it (the glue is tester/plugin.py).

One PostgreSQL server per test session (:func:`orders_schema.tester.server.session_server`, chosen
by :func:`orders_schema.tester.server.choose`). Every version file is applied once into a template
database. Tests then get, from cheapest to dearest:

* a connection inside a transaction that is rolled back after the test (about a millisecond);
* a database that keeps commits, emptied with TRUNCATE after each test;
* a fresh clone of the template (CREATE DATABASE ... TEMPLATE, 100-330 ms) for tests that change
  the schema itself.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from orders_schema.declare.project import Project
from orders_schema.declare.quoting import ident, qualified
from orders_schema.live.apply import apply_files
from orders_schema.store.files import version_files
from orders_schema.tester import server as srv
from orders_schema.tester.server import Server

TEMPLATE_DB = "orders_schema_tmpl"


@dataclass
class Databases:
    """The session's databases on one :class:`~orders_schema.tester.server.Server`: the template
    (every version applied) and its clones, created and dropped by the server layer's helpers."""

    server: Server
    project: Project
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.server.dsn("postgres"), autocommit=True)

    def build_template(self) -> None:
        """Apply every version file, in order, to a fresh template database."""
        admin = self.server.dsn("postgres")
        srv.drop_database(admin, TEMPLATE_DB)
        srv.create_database(admin, TEMPLATE_DB)
        with psycopg.connect(self.server.dsn(TEMPLATE_DB)) as conn:
            apply_files(conn, version_files(self.project.schema_dir))
            conn.commit()
        with self.admin() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH is_template true").format(sql.SQL(ident(TEMPLATE_DB))))

    def clone(self, prefix: str = "orders_schema_t") -> str:
        """A new copy of the template; returns its name."""
        return self._create(prefix, TEMPLATE_DB)

    def empty(self, prefix: str = "orders_schema_e") -> str:
        """A new empty database; returns its name."""
        return self._create(prefix, None)

    def drop(self, name: str) -> None:
        srv.drop_database(self.server.dsn("postgres"), name)

    def _create(self, prefix: str, template: str | None) -> str:
        name = f"{prefix}{next(self._counter)}"
        admin = self.server.dsn("postgres")
        srv.drop_database(admin, name)
        srv.create_database(admin, name, template)
        return name


@contextlib.contextmanager
def rolled_back(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """``conn`` inside a transaction that is rolled back on exit, whatever the body did (the
    ``orders_db`` fixture); a ``commit()`` in the body raises instead of committing."""
    conn.rollback()
    try:
        with conn.transaction(force_rollback=True):
            yield conn
    finally:
        conn.rollback()


def truncate_all(conn: psycopg.Connection, project: Project) -> None:
    """Empty every table of the project's schema (one statement, so foreign keys do not matter)."""
    tables = [qualified(project.schema.name, t.name) for t in project.schema.tables]
    if tables:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ".join(tables))))
