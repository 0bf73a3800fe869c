// Package ingest consumes the referral, scheduling and communication topics into
// ClickHouse's `events` table.
//
// One ingester joins a Kafka consumer group; several share the partitions. For
// each generation it reads its partitions, decodes and validates every message
// (package event), batches valid events by row count or age, inserts a batch with
// named columns, sends invalid messages to the dead-letter topic, and only then
// commits the batch's offsets. If ClickHouse is down or refuses an insert, the
// batch is retried with capped, jittered backoff for as long as it takes while
// fetching stops, so memory stays bounded and nothing is lost or committed early.
// Redelivery after a crash or rebalance is harmless: `events` deduplicates by
// event id and the facts tables hold idempotent aggregate states.
//
// It does not create topics or schema: `make services-up` and `referralops
// migrate` do.
package ingest
