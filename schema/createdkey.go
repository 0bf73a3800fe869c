package schema

import (
	"fmt"
	"strings"
)

// The KPI state keeps a referral's earliest referral.created twice: as
// created_event, the facts' minIf over the tuple (event_time, event_id,
// CreatedDimensions...), and as created_key (migration 0020), a minIf over
// one String that sorts as that tuple does: the time as '1' and ten digits
// of Unix seconds, then the event id and the dimensions, NUL between them.
// 18.16 reads a tuple state value by value; reading created_key instead
// saved the refresh queries about 0.35 s of server time at 10 M events with
// ids that do not sort by time (docs/scaling.md). The order is the tuple's:
// the times have one width, and no field holds a NUL (the event id and the
// dimensions are identifiers, enums or service line names: EVENTS.md), so a
// field that is a prefix of another sorts first in both.

// createdKeySeparator separates the fields of a created_key.
const createdKeySeparator = `'\0'`

// CreatedKeySQL is the created_key value of the created_event tuple value
// tuple, an SQL expression: empty when the tuple is the minIf of none (time
// 0). Its state is made with minIfState in a GROUP BY (the pass, migration
// 0020): arrayReduce('minIfState') of a String this long crashes 18.16 (a
// segmentation fault writing the state).
func CreatedKeySQL(tuple string) string {
	fields := []string{fmt.Sprintf("toString(toUInt64(tupleElement(%s, 1)) + 10000000000)", tuple)}
	for i := 2; i <= 2+len(CreatedDimensions); i++ {
		fields = append(fields, fmt.Sprintf("tupleElement(%s, %d)", tuple, i))
	}
	return fmt.Sprintf("if(tupleElement(%s, 1) > toDateTime(0, 'UTC'), concat(%s), '')",
		tuple, strings.Join(fields, ", "+createdKeySeparator+", "))
}

// CreatedKeyFieldSQL is field name ("at", "event_id" or one of
// CreatedDimensions) of the created_key value key, an SQL expression:
// time 0 and empty strings when key is empty (no referral.created).
func CreatedKeyFieldSQL(key, name string) (string, error) {
	i, err := createdField(name)
	if err != nil {
		return "", err
	}
	if i == 1 {
		return fmt.Sprintf("toDateTime(toUInt32(toUInt64OrZero(substring(%s, 2, 10))), 'UTC')", key), nil
	}
	return fmt.Sprintf("splitByChar(%s, %s)[%d]", createdKeySeparator, key, i), nil
}
