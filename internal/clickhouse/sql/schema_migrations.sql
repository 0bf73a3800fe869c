-- Bookkeeping for Migrate: one row per applied migration version.
--
-- ReplacingMergeTree ORDER BY version: two processes that apply the same
-- migration concurrently both record it, and the duplicate rows are harmless
-- (readers take DISTINCT version; merges eventually collapse them). Nothing is
-- ever read from here except which versions exist, so no locking is needed.
CREATE DATABASE IF NOT EXISTS {{.DB}};

CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY version;
