-- appointment_facts: one row per (referral, appointment) after merges, with
-- idempotent states from which an appointment's status and slot as of any T
-- follow:
--   history: (event_time, status rank, event_id, scheduled_for) per
--     appointment.* event. The status ranks (schema.StatusRank) ascend booked,
--     rescheduled, cancelled, no_show, completed, so the greatest tuple with
--     time <= T is the latest event with KPIS.md's tie order (completed >
--     no_show > cancelled > rescheduled > booked), then event_id. The slot as
--     of T is scheduled_for of the greatest tuple with time <= T and rank <=
--     rescheduled (booked/rescheduled); scheduled_for is 1970-01-01 00:00:00
--     for the other kinds.
--   first_booked_at: the earliest appointment.booked.
-- ORDER BY (referral_id, appointment_id): per-referral reads (access time,
-- worklists) are one range.
CREATE TABLE IF NOT EXISTS {{.Local "appointment_facts"}}{{.OnCluster}}
(
    referral_id String,
    appointment_id String,
    history AggregateFunction(groupUniqArray, Tuple(DateTime('UTC'), UInt8, String, DateTime('UTC'))),
    first_booked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    -- where and what was booked, from the earliest appointment.booked
    booked_location_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    booked_visit_type AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = {{.Engine "appointment_facts" "AggregatingMergeTree"}}
ORDER BY (referral_id, appointment_id);

{{template "distributed" .Distributed "appointment_facts" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.appointment_facts_mv{{.OnCluster}} TO {{.Local "appointment_facts"}} AS
{{- template "appointment_facts_select" .WithSetStates.OnShard}};

-- Backfill; see 0002.
INSERT INTO {{.DB}}.appointment_facts{{.BackfillSettings}}
{{- template "appointment_facts_select" .WithSetStates}};
