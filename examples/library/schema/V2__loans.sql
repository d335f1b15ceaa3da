-- Loans: who has which book, and since when

-- ============================================================
-- LOANS
-- ============================================================

-- One row per loan; open while returned_at is NULL
CREATE TABLE IF NOT EXISTS library.loans (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    book_id BIGINT NOT NULL,
    borrower TEXT NOT NULL,
    loaned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    returned_at TIMESTAMPTZ,

    CONSTRAINT loans_returned_after_loaned CHECK (returned_at IS NULL OR returned_at >= loaned_at),
    CONSTRAINT loans_book_fk FOREIGN KEY (book_id) REFERENCES library.books(id)
);

-- ============================================================
-- INDEXES
-- ============================================================

CREATE INDEX IF NOT EXISTS idx_loans_open ON library.loans(book_id) WHERE returned_at IS NULL;
