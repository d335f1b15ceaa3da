-- WallTrack baseline: schema and the tables the orders migration (V9) reads
-- Version: V1
--
-- Stand-ins for tables earlier WallTrack stories created; only the columns V9 uses.

CREATE SCHEMA IF NOT EXISTS walltrack;

-- ============================================================
-- PHASE 1: TABLES V9 DEPENDS ON
-- ============================================================

-- Positions (EXIT orders reference them)
CREATE TABLE IF NOT EXISTS walltrack.positions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    entry_price DECIMAL(30, 12),
    entry_amount_sol DECIMAL(20, 8),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Signals (ENTRY orders reference them)
CREATE TABLE IF NOT EXISTS walltrack.signals (
    id VARCHAR(100) PRIMARY KEY,
    score DECIMAL(10, 4),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Configuration audit log (order status changes are logged here)
CREATE TABLE IF NOT EXISTS walltrack.config_audit_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    config_table VARCHAR(50),
    config_key VARCHAR(100),
    old_value TEXT,
    new_value TEXT,
    changed_by VARCHAR(100),
    reason TEXT,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
