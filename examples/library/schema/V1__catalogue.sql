-- Library catalogue: authors and their books

CREATE SCHEMA IF NOT EXISTS library;

-- ============================================================
-- CATALOGUE
-- ============================================================

CREATE TABLE IF NOT EXISTS library.authors (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS library.books (
    id BIGINT PRIMARY KEY,
    author_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    isbn VARCHAR(13) NOT NULL,
    copies INTEGER NOT NULL DEFAULT 1,

    CONSTRAINT books_copies_check CHECK (copies >= 0),
    CONSTRAINT books_author_fk FOREIGN KEY (author_id) REFERENCES library.authors(id),
    CONSTRAINT books_isbn_key UNIQUE (isbn)
);
