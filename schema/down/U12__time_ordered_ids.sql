-- Undo V12__time_ordered_ids.sql: back to the schema released before them.
-- Destructive by design: it drops what those versions added.

SET lock_timeout = '5s';

ALTER TABLE walltrack.orders ALTER COLUMN id SET DEFAULT gen_random_uuid();

DROP FUNCTION IF EXISTS walltrack.uuid_v7();
