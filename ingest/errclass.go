package ingest

import (
	"errors"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/clickhouse"
)

// errClass is how the ingester treats a dependency's error; classify is the
// one place that decides it, and docs/errors.md lists the codes of each class.
type errClass int

const (
	// transient errors pass by themselves (network, timeouts, a server
	// overloaded or shutting down, too many parts, a leader that moved): the
	// operation is retried with capped, jittered backoff.
	transient errClass = iota
	// recordRefused: Kafka refuses this one record for good (its size or
	// content). A dead letter is replaced by its stub; nothing else is retried.
	recordRefused
	// schemaBehind: the database lacks a table or column the ingester writes.
	// Not ready until `referralops migrate` ran; retried slowly.
	schemaBehind
	// accessDenied: the ingester's ClickHouse user or Kafka principal lacks a
	// grant. Not ready, naming the grant, until an operator gives it; retried
	// slowly.
	accessDenied
	// rejected: any other permanent refusal of a batch (e.g. too many partitions
	// in one INSERT block, a type the table does not take). Retrying as sent
	// cannot help; not ready, naming the code, retried slowly so a fixed server
	// setting is picked up.
	rejected
)

func (c errClass) String() string {
	switch c {
	case recordRefused:
		return "record refused"
	case schemaBehind:
		return "schema behind the binary"
	case accessDenied:
		return "access denied"
	case rejected:
		return "rejected"
	}
	return "transient"
}

// permanent reports whether retrying soon cannot help.
func (c errClass) permanent() bool { return c != transient }

// errSchemaBehind means the database lacks migrations the binary needs; the
// error that wraps it names them.
var errSchemaBehind = errors.New("schema behind the binary")

// tooManyPartitions is the text of the TOO_MANY_PARTS exception that refuses
// one INSERT block spanning more than max_partitions_per_insert_block
// partitions (current ClickHouse); the same code otherwise means merges are
// behind, which passes.
const tooManyPartitions = "Too many partitions for single INSERT block"

// classify says how to treat err, an error of ClickHouse, of Kafka, or of the
// network between. What no server refused (a dial, a timeout, a reset
// connection) is transient.
func classify(err error) errClass {
	if errors.Is(err, errSchemaBehind) {
		return schemaBehind
	}
	if code, msg, ok := clickhouse.Exception(err); ok {
		return classifyClickHouse(code, msg)
	}
	if _, ok := errors.AsType[kafka.MessageTooLargeError](err); ok {
		return recordRefused
	}
	var perMessage kafka.WriteErrors
	if errors.As(err, &perMessage) {
		for _, e := range perMessage {
			if e != nil {
				return classify(e)
			}
		}
		return transient
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		return classifyKafka(ke)
	}
	return transient
}

func classifyClickHouse(code int32, msg string) errClass {
	switch code {
	case clickhouse.CodeTooManyParts:
		if strings.Contains(msg, tooManyPartitions) {
			return rejected
		}
		return transient
	case clickhouse.CodeUnexpectedEndOfFile, clickhouse.CodeAttemptToReadAfterEOF, clickhouse.CodeTimeoutExceeded,
		clickhouse.CodeTooSlow, clickhouse.CodeCannotAllocateMemory, clickhouse.CodeTooManySimultaneous,
		clickhouse.CodeNoFreeConnection, clickhouse.CodeSocketTimeout, clickhouse.CodeNetworkError,
		clickhouse.CodeNoZooKeeper, clickhouse.CodeAborted, clickhouse.CodeMemoryLimitExceeded,
		clickhouse.CodeTableIsReadOnly, clickhouse.CodeAllConnectionTriesFailed, clickhouse.CodeUnsatisfiedQuorum,
		clickhouse.CodeUnknownStatusOfInsert, clickhouse.CodeQueryWasCancelled, clickhouse.CodeSystemError,
		clickhouse.CodeTableIsBeingRestarted, clickhouse.CodeServerOverloaded, clickhouse.CodeKeeperException,
		clickhouse.CodePocoException:
		return transient
	case clickhouse.CodeReadonly, clickhouse.CodeDatabaseAccessDenied, clickhouse.CodeAccessDenied,
		clickhouse.CodeUnknownUser, clickhouse.CodeWrongPassword, clickhouse.CodeRequiredPassword,
		clickhouse.CodeIPAddressNotAllowed, clickhouse.CodeAuthenticationFailed:
		return accessDenied
	case clickhouse.CodeUnknownTable, clickhouse.CodeUnknownDatabase, clickhouse.CodeNoSuchColumnInTable,
		clickhouse.CodeThereIsNoColumn, clickhouse.CodeNotFoundColumnInBlock, clickhouse.CodeUnknownIdentifier:
		return schemaBehind
	}
	return rejected
}

func classifyKafka(e kafka.Error) errClass {
	switch e {
	// Before Temporary: kafka-go calls InvalidMessage (CORRUPT_MESSAGE)
	// retriable, but resending the same bytes meets the same refusal.
	case kafka.MessageSizeTooLarge, kafka.InvalidMessage, kafka.InvalidMessageSize, kafka.RecordListTooLarge,
		kafka.InvalidRecord, kafka.InvalidTimestamp:
		return recordRefused
	case kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed, kafka.ClusterAuthorizationFailed,
		kafka.TransactionalIDAuthorizationFailed, kafka.SASLAuthenticationFailed:
		return accessDenied
	}
	if e.Temporary() {
		return transient
	}
	return rejected
}
