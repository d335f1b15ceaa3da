"""The test server and its databases, with no pytest in it (the glue is pytest_plugin.py).

One PostgreSQL server per test session (started through pytest-postgresql's executor, as an
unprivileged user when we are root). Every version file is applied once into a template
database. Tests then get, from cheapest to dearest:

* a connection inside a transaction that is rolled back after the test (about a millisecond);
* a database that keeps commits, emptied with TRUNCATE after each test;
* a fresh clone of the template (CREATE DATABASE ... TEMPLATE, 100-330 ms) for tests that change
  the schema itself.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from orders_schema.declare.project import Project
from orders_schema.declare.quoting import ident, qualified
from orders_schema.live.apply import apply_files
from orders_schema.store.files import version_files
from orders_schema.tester import server as srv

TEMPLATE_DB = "orders_schema_tmpl"


@dataclass(frozen=True)
class ServerInfo:
    host: str
    port: int
    user: str = "postgres"
    bindir: Path | None = None

    def dsn(self, dbname: str) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"


@contextlib.contextmanager
def session_server(pg: str | None, workdir: Path) -> Iterator[tuple[ServerInfo, int]]:
    """Start one server for a test session with pytest-postgresql's executor; yield it and its major."""
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    bindir = srv.find_bindir(pg)
    executable = srv.write_pg_ctl_wrapper(bindir, workdir / "bin")
    sockdir = srv.socket_dir()
    data = workdir / "data"
    executor = PostgreSQLExecutor(
        executable=str(executable),
        host="127.0.0.1",
        port=srv.free_port(),
        datadir=str(data),
        unixsocketdir=str(sockdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="orders_schema",
        postgres_options="-c max_connections=120 -c shared_buffers=128MB",
    )
    srv.make_reachable(workdir, srv.server_user())
    executor.start()
    executor.wait_for_postgres()
    try:
        yield ServerInfo(host=str(sockdir), port=executor.port, bindir=bindir), srv.server_major(bindir)
    finally:
        executor.stop()
        executor.clean_directory()
        shutil.rmtree(sockdir, ignore_errors=True)


@dataclass
class Databases:
    """Creates and drops the session's databases; every name is quoted by the one helper."""

    server: ServerInfo
    project: Project
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.server.dsn("postgres"), autocommit=True)

    def build_template(self) -> None:
        """Apply every version file, in order, to a fresh template database."""
        with self.admin() as conn:
            self._drop(conn, TEMPLATE_DB)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.SQL(ident(TEMPLATE_DB))))
        with psycopg.connect(self.server.dsn(TEMPLATE_DB)) as conn:
            apply_files(conn, version_files(self.project.schema_dir))
            conn.commit()
        with self.admin() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH is_template true").format(sql.SQL(ident(TEMPLATE_DB))))

    def clone(self, prefix: str = "orders_schema_t") -> str:
        name = f"{prefix}{next(self._counter)}"
        with self.admin() as conn:
            self._drop(conn, name)
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.SQL(ident(name)), sql.SQL(ident(TEMPLATE_DB)))
            )
        return name

    def empty(self, prefix: str = "orders_schema_e") -> str:
        name = f"{prefix}{next(self._counter)}"
        with self.admin() as conn:
            self._drop(conn, name)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.SQL(ident(name))))
        return name

    def drop(self, name: str) -> None:
        with self.admin() as conn:
            self._drop(conn, name)

    @staticmethod
    def _drop(conn: psycopg.Connection, name: str) -> None:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.SQL(ident(name))))


def truncate_all(conn: psycopg.Connection, project: Project) -> None:
    """Empty every table of the project's schema (one statement, so foreign keys do not matter)."""
    tables = [qualified(project.schema.name, t.name) for t in project.schema.tables]
    if tables:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ".join(tables))))
