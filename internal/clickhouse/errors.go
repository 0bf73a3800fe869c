package clickhouse

import (
	"errors"
	"regexp"
	"strconv"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// ClickHouse exception codes the project acts on. A code's number is stable
// across releases; a few names changed, and some codes exist only in newer
// releases (marked). docs/errors.md says how the ingester treats each.
const (
	CodeUnexpectedEndOfFile      = 3
	CodeThereIsNoColumn          = 8
	CodeNotFoundColumnInBlock    = 10
	CodeNoSuchColumnInTable      = 16
	CodeAttemptToReadAfterEOF    = 32
	CodeUnknownIdentifier        = 47
	CodeTableAlreadyExists       = 57
	CodeUnknownTable             = 60
	CodeUnknownDatabase          = 81
	CodeDatabaseAlreadyExists    = 82
	CodeTimeoutExceeded          = 159
	CodeTooSlow                  = 160
	CodeReadonly                 = 164
	CodeCannotAllocateMemory     = 173
	CodeUnknownUser              = 192
	CodeWrongPassword            = 193
	CodeRequiredPassword         = 194
	CodeIPAddressNotAllowed      = 195
	CodeTooManySimultaneous      = 202 // TOO_MANY_SIMULTANEOUS_QUERIES
	CodeNoFreeConnection         = 203
	CodeSocketTimeout            = 209
	CodeNetworkError             = 210
	CodeNoZooKeeper              = 225
	CodeAborted                  = 236
	CodeMemoryLimitExceeded      = 241
	CodeTableIsReadOnly          = 242
	CodeTooManyParts             = 252
	CodeAllConnectionTriesFailed = 279
	CodeUnsatisfiedQuorum        = 286 // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
	CodeDatabaseAccessDenied     = 291
	CodeUnknownStatusOfInsert    = 319
	CodeQueryWasCancelled        = 394
	CodeSystemError              = 425
	CodeAccessDenied             = 497 // 20.5+: SQL access control
	CodeAuthenticationFailed     = 516 // 20.x+: replaces UNKNOWN_USER and WRONG_PASSWORD at login
	CodeTableIsBeingRestarted    = 733 // current only
	CodeServerOverloaded         = 745 // current only
	CodeKeeperException          = 999
	CodePocoException            = 1000
)

// chdbCode finds the code in chDB's errors, which are text: "Code: 57. DB::Exception: ...".
var chdbCode = regexp.MustCompile(`\bCode: (\d+)\. `)

// Exception returns the code and message of a ClickHouse exception in err:
// a server's over the native protocol, or chDB's in its text. ok is false for
// errors no ClickHouse raised (network, timeouts, the client's own).
func Exception(err error) (code int32, message string, ok bool) {
	if err == nil {
		return 0, "", false
	}
	if ex, isEx := errors.AsType[*proto.Exception](err); isEx {
		return ex.Code, ex.Message, true
	}
	if m := chdbCode.FindStringSubmatch(err.Error()); m != nil {
		if c, convErr := strconv.ParseInt(m[1], 10, 32); convErr == nil {
			return int32(c), err.Error(), true
		}
	}
	return 0, "", false
}
