package schema

// EventColumns are the columns of `events` (migrations/0001_events.sql) in table
// order. Inserts must name their columns (ClickHouse 18.16 rejects a batch
// insert that does not), so writers can build the column list from this.
var EventColumns = []string{
	"event_id", "event_type", "event_time", "referral_id", "source",
	"referrer_id", "referrer_org_id", "referrer_type", "referrer_network", "service_line",
	"location_id", "destination_network", "destination_org_id", "payer_class", "priority",
	"channel", "patient_token", "reason", "missing", "appointment_id",
	"scheduled_for", "visit_type", "cancelled_by", "recipient", "outcome",
	"kafka_topic", "kafka_partition", "kafka_offset", "ingested_at",
}
