// Package demo is `referralops demo`: the whole pipeline in one process. It
// embeds a Kafka broker unless one is named, migrates ClickHouse, runs the
// ingester and the KPI exporter built by package service as the ingest and
// export commands build them, replays a quarter of synthetic referrals into
// Kafka, prints what was stored and the KPI table, and then streams live with
// a live view until it is stopped.
//
// Its data lives in ClickHouse: the stream is deterministic, so a second run
// resumes shortly before the newest stored event instead of replaying again.
// It is a demonstration on one machine, not a deployment: the embedded broker
// keeps everything in memory.
package demo
