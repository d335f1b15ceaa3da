"""The synthetic-data loader: fills a database with a project's realistic rows.

Used by the EXPLAIN cases (:mod:`orders_schema.tester.checks.explain`), the plugin's data
database, ``verify`` and the benchmarks. See :attr:`orders_schema.declare.project.Project.synthetic_data`
for what the statements must do (``%(rows)s``, ``%(run)s``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from orders_schema.declare.project import Project, synthetic_parameters
from orders_schema.declare.quoting import q, query


@dataclass(frozen=True)
class LoadProgress:
    """One step of the synthetic data load, reported after the step ran."""

    step: int
    steps: int
    statement: str
    """The statement's first line."""
    seconds: float
    """Time the step took."""
    total_seconds: float


ProgressCallback = Callable[[LoadProgress], None]


def print_progress(p: LoadProgress) -> None:
    """A ready-made progress callback: one line per step on stdout."""
    print(f"[{p.step}/{p.steps}] {p.seconds:6.2f} s  {p.statement}", flush=True)


class SyntheticDataCollision(RuntimeError):
    """A synthetic data statement wrote a key that a row already in the database holds."""

    def __init__(self, step: int, statement: str, error: psycopg.errors.UniqueViolation) -> None:
        diag = error.diag
        detail = f" ({diag.message_detail.rstrip('.')})" if diag.message_detail else ""
        super().__init__(
            f"synthetic data statement {step} ({statement}) collides with rows already in the database: "
            f"{diag.message_primary or error}{detail}. Put %(run)s, the token unique to each load, "
            "into every key the statement writes (see Project.synthetic_data)"
        )
        self.error = error


def load_synthetic_data(
    conn: psycopg.Connection,
    project: Project,
    rows: int,
    progress: ProgressCallback | None = None,
    run: str | None = None,
) -> float:
    """Run the project's synthetic data statements with ``rows``, then ANALYZE its tables.

    Every statement gets the same parameters (:func:`~orders_schema.declare.project.synthetic_parameters`:
    ``rows`` and ``run``, a token unique to this load unless given), so the keys it writes never
    meet the rows already there. A statement that still hits a unique key raises
    :class:`SyntheticDataCollision` naming it. Runs in the caller's transaction (nothing is
    committed here). Returns the seconds it took.
    """
    params = synthetic_parameters(rows, run)
    statements = [*project.synthetic_data]
    analyze = [f"ANALYZE {q(project.schema.name, t.name)}" for t in project.schema.tables]
    steps = len(statements) + len(analyze)
    start = time.perf_counter()
    for n, text in enumerate([*statements, *analyze], 1):
        began = time.perf_counter()
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        if n <= len(statements):
            try:
                conn.execute(query(text), params)
            except psycopg.errors.UniqueViolation as exc:
                raise SyntheticDataCollision(n, first_line, exc) from exc
        else:
            conn.execute(query(text))
        if progress is not None:
            now = time.perf_counter()
            progress(LoadProgress(n, steps, first_line, now - began, now - start))
    return time.perf_counter() - start
