// Package testenv locates the real servers that `make services-up` starts
// (ClickHouse, Apache Kafka), gives each test its own database and topics on
// them, and runs the referralops binary as a separate process.
//
// For SQL that must hold on old and current ClickHouse, Engine is either the
// 18.16 server or chDB (`make chdb`, ClickHouse 26.7 as a library) and
// OnEngines runs a test on both; GenerateEvents and Load put a generated
// dataset into a database the way the ingester would.
//
// When a server does not answer, a test is skipped, unless
// REFERRALOPS_REQUIRE_SERVERS=1 (as `make test` sets), when it fails: the suite
// never passes by skipping what it was meant to prove. chDB is treated alike.
package testenv
