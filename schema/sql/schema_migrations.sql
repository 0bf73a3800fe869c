-- Bookkeeping for Migrate: one row per applied migration version.
--
-- ReplacingMergeTree ORDER BY version: two processes that apply the same
-- migration concurrently both record it, and the duplicate rows are harmless
-- (readers take DISTINCT version; merges eventually collapse them). Nothing is
-- ever read from here except which versions exist, so no locking is needed.
--
-- On a cluster (cluster.go) the database is created on every server and this
-- table is replicated to every server, so a version recorded through one server
-- is seen through any other.
CREATE DATABASE IF NOT EXISTS {{.DB}}{{.OnCluster}};

CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations{{.OnCluster}}
(
    version UInt32,
    name String,
    applied_at DateTime('UTC')
)
ENGINE = {{.ClusterWideEngine "schema_migrations" "ReplacingMergeTree"}}
ORDER BY version;
