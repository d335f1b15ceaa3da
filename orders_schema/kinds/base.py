"""The interface every kind of schema object implements, once, in its own module.

A kind knows, for its objects:

* **identity**: :meth:`Kind.declared` lists a schema's objects by key (an index by name, a
  comment by table and column), each with the table it belongs to;
* **sameness**: :meth:`Kind.same` compares two declared objects on their normalised forms;
* **changes**: :meth:`Kind.diff` turns two schemas into its changes (plain data with a
  ``reverse()``);
* **statements**: :meth:`Kind.create` and :meth:`Kind.plan` (where each statement of a migration
  goes: before the renames, with the creates, after them, or online), with the statement objects
  and their rendering in the kind's module, apart from the declaration;
* **stored form**: :attr:`Kind.query` (the schema name bound as ``%(schema)s``) and
  :meth:`Kind.stored` read the catalogue, :meth:`Kind.compare` lists the differences between
  the declared and the live stored forms.

The registry is :data:`orders_schema.kinds.KINDS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from orders_schema.live.difference import Difference
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

D = TypeVar("D")
"""The declared object (a pydantic model, or a value of a declared field)."""
S = TypeVar("S")
"""Its stored form, as read from the catalogue (a frozen dataclass)."""

CreateStage = Literal["first", "before_tables", "after_tables", "after_functions", "last", "own"]
"""Where a kind's objects go when a whole schema is created: before everything else (schemas,
extensions and types, which tables and functions use), before the tables (sequences a default
calls; what ties them to a table comes after the tables, :meth:`Kind.create_after_tables`), after
the tables and their foreign keys (indexes), after the functions (triggers), after everything else
(views, comments), or placed by ``plan.create_statements`` itself (functions: those a default calls
before the tables, the others after them)."""


class Refused(ValueError):
    """A change a kind cannot plan safely (an enum value removed, a domain's base type changed):
    the message says why and what to do instead; the planner reports it as a plan error."""


@dataclass(frozen=True)
class Declared(Generic[D]):
    """One declared object and the table it belongs to (None for a schema-level object)."""

    owner: str | None
    obj: D


@dataclass(frozen=True)
class PlanContext:
    """What a kind needs to place its statements in a migration.

    Tables are named as they are after this version's renames (``existing`` too: the tables that
    already hold data); ``was`` maps a renamed table's new name back to its old one, for the
    statements that run before the renames."""

    schema: str
    old: m.Schema
    new: m.Schema
    changes: Sequence[Change]
    existing: frozenset[str]
    was: dict[str, str]
    dropped: frozenset[str] = frozenset()
    """Tables this version drops."""
    reshaped: frozenset[str] = frozenset()
    """Relations whose columns change shape (type, drop, rename) or that are renamed or dropped."""
    added: frozenset[str] = frozenset()
    """Tables this version creates."""
    added_columns: frozenset[tuple[str, str]] = frozenset()
    """``(table, column)`` of the columns this version adds to existing tables."""
    dropped_columns: frozenset[tuple[str, str]] = frozenset()
    """``(table, column)`` of the columns this version drops (dropped in ``last``)."""
    retyped_columns: frozenset[tuple[str, str]] = frozenset()
    """``(table, column)`` of the columns whose type this version changes (tables named as after the renames)."""

    def of(self, kind: type[Change]) -> list[Any]:
        return [c for c in self.changes if isinstance(c, kind)]


@dataclass(frozen=True)
class Undeclared:
    """A live object the model cannot declare yet, by name, with why: never dropped silently."""

    kind: str
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.reason}"


@dataclass(frozen=True)
class Declaration:
    """What a kind's :meth:`Kind.declare` made of its stored forms: the schema with its objects
    folded in, and the objects it could not declare."""

    schema: m.Schema
    undeclared: tuple[Undeclared, ...] = ()


def by_dependency(items: Sequence[D], name: Callable[[D], str], uses: Callable[[D], set[str]]) -> list[D]:
    """``items`` (read back by name) reordered so that each comes after those of them it uses
    (a domain over another domain): they are created in declaration order. A cycle keeps the
    remaining order."""
    left, out, done = list(items), [], set[str]()
    while left:
        ready = [x for x in left if not (uses(x) - done) & {name(y) for y in left}] or left[:1]
        for x in ready:
            left.remove(x)
            out.append(x)
            done.add(name(x))
    return out


def on_a_partition(schema: m.Schema, kind: str, table: str, name: str) -> Undeclared | None:
    """A partition's own object (an index, constraint or trigger made on the partition, not
    inherited from its table), reported: the model declares partitions by name and bound only."""
    for parent in schema.tables:
        if any(p.name == table for p in parent.partitions):
            return Undeclared(kind, f"{table}.{name}", f"made on partition {table} of {parent.name} only; a "
                              "partition's own objects are not declarable yet (declare it on the partitioned table)")
    return None


@dataclass
class Planned:
    """A kind's statements in a migration, by where they run.

    ``drop``: in the transaction, before the renames (names as before them); ``rename``: the
    declared renames of tables and columns (the table kind's); ``early``: after the renames,
    before the tables and columns (what a default calls); ``create``: with the tables' and
    columns' creation (the table kind's first: new tables, columns, primary keys, then new
    tables' foreign keys and indexes); ``after``: once every table, column and function exists;
    ``late``: after every kind's ``after`` and before the backfills of derived tables (triggers,
    which those backfills must fire); ``last``: at the end of the transaction, once nothing reads
    it (the table kind's first: backfills, then dropped columns and tables; then the other drops);
    ``online``: outside the transaction (CONCURRENTLY), the primary keys' swaps first, then the
    VALIDATEs and index builds."""

    drop: list[Statement] = field(default_factory=list)
    rename: list[Statement] = field(default_factory=list)
    early: list[Statement] = field(default_factory=list)
    create: list[Statement] = field(default_factory=list)
    after: list[Statement] = field(default_factory=list)
    late: list[Statement] = field(default_factory=list)
    online: list[Statement] = field(default_factory=list)
    last: list[Statement] = field(default_factory=list)
    final: list[Statement] = field(default_factory=list)
    """After ``last``, in reverse rank order: the drops of what tables and functions use (types,
    extensions, schemas), once nothing uses them."""


def uncommented(obj: D) -> D:
    """``obj`` without its ``comment`` (a comment is the comment kind's: a changed one is a
    ``COMMENT ON``, never a reason to re-create the object)."""
    if getattr(obj, "comment", None) is None:
        return obj
    return obj.model_copy(update={"comment": None})  # type: ignore[attr-defined, no-any-return]


class Kind(ABC, Generic[D, S]):
    """One kind of schema object, through every stage. See the module's docstring."""

    name: ClassVar[str]
    """How messages and :class:`~orders_schema.live.difference.Difference` call it."""
    rank: ClassVar[float]
    """Its place in outputs that list every kind (comparison: tables with their columns 10, triggers 15, table
    constraints 17, indexes 20, functions 30, views 40, comments 50; and the order of the kinds'
    statements within a plan stage)."""
    catalog_field: ClassVar[str]
    """The :class:`~orders_schema.live.inspect.Catalog` field holding its stored forms."""
    query: ClassVar[str]
    """The catalogue query; the schema name is the bound parameter ``%(schema)s``."""
    create_stage: ClassVar[CreateStage]
    of_tables: ClassVar[bool] = False
    """Its stored forms belong to tables (a ``table`` attribute) and are compared only on the tables
    both sides have: a missing or extra table is one difference, not one per object it holds."""

    # -- the declared side ---------------------------------------------------------------------

    @abstractmethod
    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[D]]:
        """The schema's objects of this kind by identity."""

    def same(self, a: D, b: D) -> bool:
        """Whether two declared objects of the same identity are the same (normalised forms)."""
        return bool(a == b)

    @abstractmethod
    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        """The changes that turn ``old`` (renames already applied) into ``new``."""

    def matched(
        self, old: m.Schema, new: m.Schema
    ) -> Iterator[tuple[Hashable, Declared[D] | None, Declared[D] | None]]:
        """Objects of both schemas by identity, in declaration order (``new``'s, then those only in
        ``old``), leaving out those whose table is added or dropped (a table's creation or drop
        carries its objects)."""
        both = {t.name for t in old.tables} & {t.name for t in new.tables}
        before, after = self.declared(old), self.declared(new)
        for key in [*after, *(k for k in before if k not in after)]:
            a, b = before.get(key), after.get(key)
            if all(x is None or x.owner is None or x.owner in both for x in (a, b)):
                yield key, a, b

    # -- statements ----------------------------------------------------------------------------

    @abstractmethod
    def create(self, schema: str, key: Hashable, item: Declared[D]) -> list[Statement]:
        """Statements creating one object (``key`` its identity) where its table exists."""

    def create_after_tables(self, schema: str, key: Hashable, item: Declared[D]) -> list[Statement]:
        """Statements tying an object created before the tables to a table (a sequence's
        ``OWNED BY``), once every table exists; none by default."""
        return []

    @abstractmethod
    def plan(self, ctx: PlanContext) -> Planned:
        """This kind's changes of ``ctx.changes`` as statements placed in a migration."""

    # -- the stored side -----------------------------------------------------------------------

    @abstractmethod
    def stored(self, rows: list[dict[str, Any]]) -> tuple[S, ...]:
        """The catalogue query's rows as stored forms, sorted by identity."""

    @abstractmethod
    def compare(self, schema: str, declared: Sequence[S], live: Sequence[S]) -> Iterator[Difference]:
        """Every difference between the declared and the live stored forms."""

    # -- the stored side back into declarations ------------------------------------------------

    def declare(self, schema: m.Schema, stored: Sequence[S]) -> Declaration:
        """Fold this kind's stored forms into ``schema`` (built so far by the kinds of lower rank)
        as declarations, exactly enough that creating them gives back the same stored forms;
        list what cannot be declared (:class:`Undeclared`). By default a kind declares nothing:
        every object of it is reported."""
        return Declaration(schema, tuple(Undeclared(self.name, self.identity(s), "this kind cannot be declared yet")
                                         for s in stored))

    def identity(self, stored: S) -> str:
        """How a report names one stored object (its table and name when it belongs to one)."""
        name = str(getattr(stored, "signature", None) or getattr(stored, "name", stored))
        table = getattr(stored, "table", None) if self.of_tables else None
        return f"{table}.{name}" if table else name
