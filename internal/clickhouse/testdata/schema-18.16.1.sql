-- events
CREATE TABLE IF NOT EXISTS referralops.events
(
    event_id String,
    event_type String,
    event_time DateTime('UTC'),
    referral_id String,
    source String,
    referrer_id String,
    referrer_org_id String,
    referrer_type String,
    referrer_network String,
    service_line String,
    location_id String,
    destination_network String,
    destination_org_id String,
    payer_class String,
    priority String,
    channel String,
    patient_token String,
    reason String,
    missing Array(String),
    appointment_id String,
    scheduled_for DateTime('UTC'),
    visit_type String,
    cancelled_by String,
    recipient String,
    outcome String,
    kafka_topic String,
    kafka_partition Int32,
    kafka_offset Int64,
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (referral_id, event_time, event_id);

-- referral_facts
CREATE TABLE IF NOT EXISTS referralops.referral_facts
(
    referral_id String,
    first_event_at AggregateFunction(min, DateTime('UTC')),
    last_event_at AggregateFunction(max, DateTime('UTC')),
    created_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    dim_source AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_service_line AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_location_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_org_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_type AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_referrer_network AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_payer_class AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_priority AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_channel AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    dim_patient_token AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    destinations AggregateFunction(groupUniqArrayIf, Tuple(DateTime('UTC'), UInt8, String, String, String), UInt8),
    accepted_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    closed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_received_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    auth_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    auth_decisions AggregateFunction(groupUniqArrayIf, Tuple(DateTime('UTC'), String, UInt8), UInt8),
    leaked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_booked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_completed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    consult_notes AggregateFunction(groupUniqArrayIf, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY referral_id;

-- referral_facts
CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.referral_facts_mv TO referralops.referral_facts AS
SELECT
    referral_id,
    minState(event_time) AS first_event_at,
    maxState(event_time) AS last_event_at,
    minIfState(event_time, event_type = 'referral.created') AS created_at,
    argMinIfState(CAST(source AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_source,
    argMinIfState(CAST(service_line AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_service_line,
    argMinIfState(CAST(location_id AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_location_id,
    argMinIfState(referrer_id, tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_id,
    argMinIfState(referrer_org_id, tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_org_id,
    argMinIfState(CAST(referrer_type AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_type,
    argMinIfState(CAST(referrer_network AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_network,
    argMinIfState(CAST(payer_class AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_payer_class,
    argMinIfState(CAST(priority AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_priority,
    argMinIfState(CAST(channel AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_channel,
    argMinIfState(patient_token, tuple(event_time, event_id), event_type = 'referral.created') AS dim_patient_token,
    groupUniqArrayIfState(
        tuple(event_time, toUInt8(event_type = 'referral.redirected'), event_id, CAST(destination_network AS String), destination_org_id),
        event_type IN ('referral.created', 'referral.redirected')) AS destinations,
    minIfState(event_time, event_type = 'referral.accepted') AS accepted_at,
    minIfState(event_time, event_type IN ('referral.cancelled', 'referral.rejected')) AS closed_at,
    minIfState(event_time, event_type = 'referral.info_requested') AS info_requested_at,
    minIfState(event_time, event_type = 'referral.info_received') AS info_received_at,
    minIfState(event_time, event_type = 'referral.auth_requested') AS auth_requested_at,
    groupUniqArrayIfState(
        tuple(event_time, event_id, toUInt8(event_type = 'referral.auth_approved')),
        event_type IN ('referral.auth_approved', 'referral.auth_denied')) AS auth_decisions,
    minIfState(event_time, event_type = 'referral.leaked') AS leaked_at,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    minIfState(event_time, event_type = 'appointment.completed') AS first_completed_at,
    groupUniqArrayIfState(tuple(event_time, event_id), event_type = 'communication.consult_note_sent') AS consult_notes
FROM referralops.events
GROUP BY referral_id;

-- referral_facts
INSERT INTO referralops.referral_facts
SELECT
    referral_id,
    minState(event_time) AS first_event_at,
    maxState(event_time) AS last_event_at,
    minIfState(event_time, event_type = 'referral.created') AS created_at,
    argMinIfState(CAST(source AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_source,
    argMinIfState(CAST(service_line AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_service_line,
    argMinIfState(CAST(location_id AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_location_id,
    argMinIfState(referrer_id, tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_id,
    argMinIfState(referrer_org_id, tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_org_id,
    argMinIfState(CAST(referrer_type AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_type,
    argMinIfState(CAST(referrer_network AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_referrer_network,
    argMinIfState(CAST(payer_class AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_payer_class,
    argMinIfState(CAST(priority AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_priority,
    argMinIfState(CAST(channel AS String), tuple(event_time, event_id), event_type = 'referral.created') AS dim_channel,
    argMinIfState(patient_token, tuple(event_time, event_id), event_type = 'referral.created') AS dim_patient_token,
    groupUniqArrayIfState(
        tuple(event_time, toUInt8(event_type = 'referral.redirected'), event_id, CAST(destination_network AS String), destination_org_id),
        event_type IN ('referral.created', 'referral.redirected')) AS destinations,
    minIfState(event_time, event_type = 'referral.accepted') AS accepted_at,
    minIfState(event_time, event_type IN ('referral.cancelled', 'referral.rejected')) AS closed_at,
    minIfState(event_time, event_type = 'referral.info_requested') AS info_requested_at,
    minIfState(event_time, event_type = 'referral.info_received') AS info_received_at,
    minIfState(event_time, event_type = 'referral.auth_requested') AS auth_requested_at,
    groupUniqArrayIfState(
        tuple(event_time, event_id, toUInt8(event_type = 'referral.auth_approved')),
        event_type IN ('referral.auth_approved', 'referral.auth_denied')) AS auth_decisions,
    minIfState(event_time, event_type = 'referral.leaked') AS leaked_at,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    minIfState(event_time, event_type = 'appointment.completed') AS first_completed_at,
    groupUniqArrayIfState(tuple(event_time, event_id), event_type = 'communication.consult_note_sent') AS consult_notes
FROM referralops.events
GROUP BY referral_id;

-- appointment_facts
CREATE TABLE IF NOT EXISTS referralops.appointment_facts
(
    referral_id String,
    appointment_id String,
    history AggregateFunction(groupUniqArray, Tuple(DateTime('UTC'), UInt8, String, DateTime('UTC'))),
    first_booked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    booked_location_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    booked_visit_type AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (referral_id, appointment_id);

-- appointment_facts
CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.appointment_facts_mv TO referralops.appointment_facts AS
SELECT
    referral_id,
    appointment_id,
    groupUniqArrayState(tuple(
        event_time,
        toUInt8(multiIf(
            event_type = 'appointment.booked', 1,
            event_type = 'appointment.rescheduled', 2,
            event_type = 'appointment.cancelled', 3,
            event_type = 'appointment.no_show', 4,
            5)),
        event_id,
        scheduled_for)) AS history,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    argMinIfState(CAST(location_id AS String), tuple(event_time, event_id), event_type = 'appointment.booked') AS booked_location_id,
    argMinIfState(CAST(visit_type AS String), tuple(event_time, event_id), event_type = 'appointment.booked') AS booked_visit_type
FROM referralops.events
WHERE event_type IN ('appointment.booked', 'appointment.rescheduled', 'appointment.cancelled',
                     'appointment.no_show', 'appointment.completed')
  AND appointment_id != ''
GROUP BY referral_id, appointment_id;

-- appointment_facts
INSERT INTO referralops.appointment_facts
SELECT
    referral_id,
    appointment_id,
    groupUniqArrayState(tuple(
        event_time,
        toUInt8(multiIf(
            event_type = 'appointment.booked', 1,
            event_type = 'appointment.rescheduled', 2,
            event_type = 'appointment.cancelled', 3,
            event_type = 'appointment.no_show', 4,
            5)),
        event_id,
        scheduled_for)) AS history,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    argMinIfState(CAST(location_id AS String), tuple(event_time, event_id), event_type = 'appointment.booked') AS booked_location_id,
    argMinIfState(CAST(visit_type AS String), tuple(event_time, event_id), event_type = 'appointment.booked') AS booked_visit_type
FROM referralops.events
WHERE event_type IN ('appointment.booked', 'appointment.rescheduled', 'appointment.cancelled',
                     'appointment.no_show', 'appointment.completed')
  AND appointment_id != ''
GROUP BY referral_id, appointment_id;

