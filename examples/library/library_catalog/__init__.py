"""A lending library's schema, declared with the public ``orders_schema.model`` API.

Two hand-declared versions: V1 the catalogue (authors, books), V2 the loans. ``PROJECT`` is what
``[tool.orders-schema]`` in this folder's pyproject.toml names.
"""

from __future__ import annotations

from orders_schema.declare.behaviour import ValidRow
from orders_schema.declare.project import Project
from orders_schema.model import (
    BIGINT,
    INTEGER,
    TEXT,
    TIMESTAMPTZ,
    UUID,
    Check,
    Column,
    Comment,
    ForeignKey,
    Index,
    Phase,
    PrimaryKey,
    Query,
    Schema,
    Table,
    Unique,
    Version,
    varchar,
)

AUTHORS = Table(
    name="authors",
    columns=(
        Column(name="id", type=BIGINT, nullable=False),
        Column(name="name", type=TEXT, nullable=False),
    ),
    primary_key=PrimaryKey(columns=("id",)),
)

BOOKS = Table(
    name="books",
    columns=(
        Column(name="id", type=BIGINT, nullable=False),
        Column(name="author_id", type=BIGINT, nullable=False),
        Column(name="title", type=TEXT, nullable=False),
        Column(name="isbn", type=varchar(13), nullable=False),
        Column(name="copies", type=INTEGER, nullable=False, default="1"),
    ),
    primary_key=PrimaryKey(columns=("id",)),
    uniques=(Unique(name="books_isbn_key", columns=("isbn",)),),
    checks=(
        Check(name="books_copies_check", expression="copies >= 0", accepts=({"copies": 0},),
              rejects=({"copies": -1},)),
    ),
    foreign_keys=(
        ForeignKey(name="books_author_fk", columns=("author_id",), ref_table="authors", ref_columns=("id",)),
    ),
)

IDX_OPEN_LOANS = Index(name="idx_loans_open", columns=("book_id",), where="returned_at IS NULL")

LOANS = Table(
    name="loans",
    columns=(
        Column(name="id", type=UUID, nullable=False, default="gen_random_uuid()"),
        Column(name="book_id", type=BIGINT, nullable=False),
        Column(name="borrower", type=TEXT, nullable=False),
        Column(name="loaned_at", type=TIMESTAMPTZ, nullable=False, default="now()"),
        Column(name="returned_at", type=TIMESTAMPTZ),
    ),
    primary_key=PrimaryKey(columns=("id",)),
    checks=(
        Check(name="loans_returned_after_loaned", expression="returned_at IS NULL OR returned_at >= loaned_at",
              accepts=({"returned_at": None},),
              rejects=({"loaned_at": "2026-01-02 00:00+00", "returned_at": "2026-01-01 00:00+00"},)),
    ),
    foreign_keys=(
        ForeignKey(name="loans_book_fk", columns=("book_id",), ref_table="books", ref_columns=("id",)),
    ),
    indexes=(IDX_OPEN_LOANS,),
)

V1 = Version(
    number=1,
    name="catalogue",
    header=("Library catalogue: authors and their books",),
    create_schema=True,
    state=Schema(name="library", tables=(AUTHORS, BOOKS)),
    phases=(Phase(title="CATALOGUE", items=(AUTHORS, BOOKS)),),
)

V2 = Version(
    number=2,
    name="loans",
    header=("Loans: who has which book, and since when",),
    state=Schema(name="library", tables=(AUTHORS, BOOKS, LOANS)),
    phases=(
        Phase(title="LOANS", items=(Comment(text="One row per loan; open while returned_at is NULL"), LOANS)),
        Phase(title="INDEXES", items=(IDX_OPEN_LOANS,)),
    ),
)

QUERIES = (
    Query(
        name="open_loans_of_book",
        sql="SELECT id, borrower, loaned_at FROM library.loans WHERE book_id = %(book_id)s AND returned_at IS NULL",
        example={"book_id": 7},
        uses_index="idx_loans_open",
    ),
)

SYNTHETIC_DATA = (
    "INSERT INTO library.authors (id, name) "
    "SELECT ('x' || substr(md5(%(run)s || '-a-' || g), 1, 15))::bit(60)::bigint, 'author ' || g "
    "FROM generate_series(1, greatest(1, %(rows)s / 100)) AS g",
    "INSERT INTO library.books (id, author_id, title, isbn) "
    "SELECT ('x' || substr(md5(%(run)s || '-b-' || g), 1, 15))::bit(60)::bigint, "
    "('x' || substr(md5(%(run)s || '-a-' || (1 + g %% greatest(1, %(rows)s / 100))), 1, 15))::bit(60)::bigint, "
    "'book ' || g, substr(md5(%(run)s || '-i-' || g), 1, 13) "
    "FROM generate_series(1, greatest(1, %(rows)s / 10)) AS g",
    "INSERT INTO library.loans (book_id, borrower, loaned_at, returned_at) "
    "SELECT ('x' || substr(md5(%(run)s || '-b-' || (1 + g %% greatest(1, %(rows)s / 10))), 1, 15))::bit(60)::bigint, "
    "'reader ' || (g %% 500), now() - interval '1 day' * (g %% 300), "
    "CASE WHEN g %% 20 <> 0 THEN now() END "
    "FROM generate_series(1, %(rows)s) AS g",
)

PROJECT = Project(
    schema=V2.state,
    versions=(V1, V2),
    queries=QUERIES,
    synthetic_data=SYNTHETIC_DATA,
    behaviours=(ValidRow(table="loans", values={"borrower": "ada", "returned_at": None}),),
)
