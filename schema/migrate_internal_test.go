package schema

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

func TestIsAlreadyExists(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("wrapped: %w", &proto.Exception{Code: 57, Message: "Table x.y already exists"}), true},
		{&proto.Exception{Code: 82, Message: "Database x already exists"}, true},
		{&proto.Exception{Code: 60, Message: "Table x.y doesn't exist"}, false},
		{errors.New("Code: 57. DB::Exception: Table x.y already exists. (TABLE_ALREADY_EXISTS)"), true},
		{errors.New("Code: 570. DB::Exception: something else"), false},
	} {
		if got := isAlreadyExists(tc.err); got != tc.want {
			t.Errorf("isAlreadyExists(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
