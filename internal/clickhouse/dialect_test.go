package clickhouse_test

import (
	"testing"

	"github.com/referralops/referralops/internal/clickhouse"
)

func TestDialectFor(t *testing.T) {
	for _, tc := range []struct {
		version      string
		lowCard, ttl bool
		wantErr      bool
	}{
		{version: "18.16.1"},
		{version: "19.17.9.60"},
		{version: "20.3.1.1", lowCard: true, ttl: true},
		{version: "24.8.14.39", lowCard: true, ttl: true},
		{version: "26.7.2.1", lowCard: true, ttl: true},
		{version: "", wantErr: true},
		{version: "26", wantErr: true},
		{version: "x.y.z", wantErr: true},
	} {
		d, err := clickhouse.DialectFor(tc.version)
		if (err != nil) != tc.wantErr {
			t.Errorf("DialectFor(%q) error = %v, want error %v", tc.version, err, tc.wantErr)
			continue
		}
		if d.LowCardinality != tc.lowCard || d.TTL != tc.ttl {
			t.Errorf("DialectFor(%q) = %+v, want LowCardinality %v, TTL %v", tc.version, d, tc.lowCard, tc.ttl)
		}
	}
}
