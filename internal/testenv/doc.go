// Package testenv locates the real servers that `make services-up` starts
// (ClickHouse, Apache Kafka), gives each test its own database and topics on
// them, and runs the referralops binary as a separate process.
//
// When a server does not answer, a test is skipped, unless
// REFERRALOPS_REQUIRE_SERVERS=1 (as `make test` sets), when it fails: the suite
// never passes by skipping what it was meant to prove.
package testenv
