"""The base of every change between two declared schemas (each kind in :mod:`orders_schema.kinds`
holds its own; :mod:`orders_schema.migrate.diff` re-exports them)."""

from __future__ import annotations


class Change:
    """A change between two declared schemas, plain data; ``reverse()`` undoes it.

    A change names tables and columns as they are after the renames of the same version."""

    def reverse(self) -> Change:
        raise NotImplementedError

    def destructive(self, schema: str) -> str | None:
        """The allowance key this change needs when it loses data or drops what others may use
        (``"drop extension citext"``), else None; the table kind names its own."""
        return None
