package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// ClickHousePluginID is the plugin id of Grafana's ClickHouse datasource.
const ClickHousePluginID = "grafana-clickhouse-datasource"

// ClickHousePluginVersion is the plugin version the queries are written for:
// the v4 query model (editorType, queryType, format, rawSql).
const ClickHousePluginVersion = "4.0.0"

// The plugin's result formats (sqlds' FormatQueryOption).
const (
	ClickHouseFormatTimeSeries = 0
	ClickHouseFormatTable      = 1
)

// The plugin's query types (its QueryType enum).
const (
	ClickHouseQueryTypeTable      = "table"
	ClickHouseQueryTypeTimeSeries = "timeSeries"
)

// ClickHouseQuery is a raw-SQL query of the grafana-clickhouse-datasource
// plugin, the fields its v4 SQL editor saves. The SDK has no type for it.
type ClickHouseQuery struct {
	RefId         *string               `json:"refId,omitempty"`
	Hide          *bool                 `json:"hide,omitempty"`
	Datasource    *common.DataSourceRef `json:"datasource,omitempty"`
	PluginVersion string                `json:"pluginVersion"`
	// EditorType is "sql": the raw SQL editor, not the query builder.
	EditorType string `json:"editorType"`
	// QueryType is "table" or "timeSeries".
	QueryType string `json:"queryType"`
	// Format is 1 for a table, 0 for time series (long rows become one series
	// per combination of the string columns).
	Format int    `json:"format"`
	RawSql string `json:"rawSql"`
}

var _ variants.Dataquery = ClickHouseQuery{}

// ImplementsDataqueryVariant marks ClickHouseQuery as a panel target.
func (ClickHouseQuery) ImplementsDataqueryVariant() {}

// DataqueryType is the datasource plugin id.
func (ClickHouseQuery) DataqueryType() string { return ClickHousePluginID }

// Equals compares two queries field by field.
func (q ClickHouseQuery) Equals(other variants.Dataquery) bool {
	switch o := other.(type) {
	case ClickHouseQuery:
		return reflect.DeepEqual(q, o)
	case *ClickHouseQuery:
		return o != nil && reflect.DeepEqual(q, *o)
	}
	return false
}

// Validate checks the fields the plugin needs to run the query.
func (q ClickHouseQuery) Validate() error {
	var errs []error
	if q.EditorType != "sql" {
		errs = append(errs, fmt.Errorf("editorType: want sql, got %q", q.EditorType))
	}
	switch {
	case q.QueryType == ClickHouseQueryTypeTable && q.Format == ClickHouseFormatTable:
	case q.QueryType == ClickHouseQueryTypeTimeSeries && q.Format == ClickHouseFormatTimeSeries:
	default:
		errs = append(errs, fmt.Errorf("queryType %q with format %d: want table/1 or timeSeries/0", q.QueryType, q.Format))
	}
	if q.RawSql == "" {
		errs = append(errs, errors.New("rawSql: empty"))
	}
	if q.PluginVersion == "" {
		errs = append(errs, errors.New("pluginVersion: empty"))
	}
	return errors.Join(errs...)
}

// ClickHouseVariantConfig lets the SDK decode dashboards holding ClickHouse
// queries (register it with cog.NewRuntime().RegisterDataqueryVariant).
func ClickHouseVariantConfig() variants.DataqueryConfig {
	return variants.DataqueryConfig{
		Identifier: ClickHousePluginID,
		DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			var q ClickHouseQuery
			if err := json.Unmarshal(raw, &q); err != nil {
				return nil, err
			}
			return q, nil
		},
		StrictDataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			var q ClickHouseQuery
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&q); err != nil {
				return nil, fmt.Errorf("clickhouse query: %w", err)
			}
			if err := q.Validate(); err != nil {
				return nil, fmt.Errorf("clickhouse query: %w", err)
			}
			return q, nil
		},
	}
}

// clickHouseQueryBuilder builds a ClickHouseQuery as a panel target.
type clickHouseQueryBuilder struct{ q ClickHouseQuery }

var _ cog.Builder[variants.Dataquery] = (*clickHouseQueryBuilder)(nil)

func (b *clickHouseQueryBuilder) Build() (variants.Dataquery, error) {
	if err := b.q.Validate(); err != nil {
		return nil, cog.MakeBuildErrors("clickhouse.dataquery", err)
	}
	return b.q, nil
}
