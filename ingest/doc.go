// Package ingest consumes the referral, scheduling and communication topics into
// ClickHouse's `events` table.
//
// One ingester joins a Kafka consumer group; several share the partitions. For
// each generation it reads its partitions (a fetcher per partition on kafka-go's
// connection-level fetch, handing records on in runs, fetch.go), decodes and validates every message
// (package event), batches valid events by row count or age, streams batches into
// INSERTs of several (--insert-rows, stream.go), sends invalid messages to the
// dead-letter topic, recomputes the CMS50-style patient order, and only then
// commits the batches' offsets. If ClickHouse is down or refuses an insert, the
// batch in hand is retried with capped, jittered backoff for as long as it takes
// while fetching stops, so memory stays bounded and nothing is lost or committed
// early; an INSERT that breaks after other batches' rows were sent is consumed
// again from the committed offsets.
// What is held between fetch and insert is bounded in bytes (--max-buffered-bytes),
// not in records, so large messages cannot exceed the memory limit. Records that
// retention deleted before the group read them are never skipped silently: they
// are counted and logged, or, under --offset-out-of-range=fail, the ingester stops.
// Redelivery after a crash or rebalance is harmless: `events` deduplicates by
// event id and the facts tables hold idempotent aggregate states.
//
// It does not create topics or schema: `make services-up` and `referralops
// migrate` do.
package ingest
