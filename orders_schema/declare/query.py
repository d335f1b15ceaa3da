"""The application's statements, declared beside the indexes that serve them.

A :class:`Query` is never rendered into a version: the repository runs its ``sql`` with bound
parameters, and the migration tester EXPLAINs it on realistic data. Re-exported by
:mod:`orders_schema.declare.model` (and so by ``orders_schema.model``).
"""

from __future__ import annotations

from pydantic import field_validator

from orders_schema.declare.base import Name, Node, Row, ScalarValue


class Query(Node):
    """A statement the application sends, with psycopg named placeholders (``%(id)s``).

    The repository executes ``sql`` as declared; the migration tester EXPLAINs it with
    ``example`` parameters on realistic data and asserts that ``uses_index`` serves it.
    ``uses_index=None`` declares that no index is expected (e.g. an INSERT), unless
    ``served_by_table`` names the small table that answers it.
    """

    name: str
    sql: str
    example: Row = ()
    uses_index: Name | None = None
    served_by_table: Name | None = None
    """For a query answered from a small table whose size does not grow with the data (a summary
    kept by triggers): the tester asserts the plan reads that table and nothing else."""

    _v_example = field_validator("example", mode="before")(
        lambda value: tuple(sorted(value.items())) if isinstance(value, dict) else value
    )

    @property
    def params(self) -> dict[str, ScalarValue]:
        return dict(self.example)
