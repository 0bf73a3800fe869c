-- schema_migrations
CREATE DATABASE IF NOT EXISTS referralops ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.schema_migrations ON CLUSTER c1
(
    version UInt32,
    name String,
    applied_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/referralops/schema_migrations', '{shard}-{replica}')
ORDER BY version;

-- 0001_events
CREATE TABLE IF NOT EXISTS referralops.events_local ON CLUSTER c1
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/referralops/events_local', '{replica}', ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (referral_id, event_time, event_id);

CREATE TABLE IF NOT EXISTS referralops.events ON CLUSTER c1 AS referralops.events_local
ENGINE = Distributed(c1, referralops, events_local, cityHash64(referral_id));

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 1, 'events', now();

-- 0002_referral_facts
CREATE TABLE IF NOT EXISTS referralops.referral_facts_local ON CLUSTER c1
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/referral_facts_local', '{replica}')
ORDER BY referral_id;

CREATE TABLE IF NOT EXISTS referralops.referral_facts ON CLUSTER c1 AS referralops.referral_facts_local
ENGINE = Distributed(c1, referralops, referral_facts_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.referral_facts_mv ON CLUSTER c1 TO referralops.referral_facts_local AS
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
FROM referralops.events_local
GROUP BY referral_id;

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

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 2, 'referral_facts', now();

-- 0003_appointment_facts
CREATE TABLE IF NOT EXISTS referralops.appointment_facts_local ON CLUSTER c1
(
    referral_id String,
    appointment_id String,
    history AggregateFunction(groupUniqArray, Tuple(DateTime('UTC'), UInt8, String, DateTime('UTC'))),
    first_booked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    booked_location_id AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    booked_visit_type AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/appointment_facts_local', '{replica}')
ORDER BY (referral_id, appointment_id);

CREATE TABLE IF NOT EXISTS referralops.appointment_facts ON CLUSTER c1 AS referralops.appointment_facts_local
ENGINE = Distributed(c1, referralops, appointment_facts_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.appointment_facts_mv ON CLUSTER c1 TO referralops.appointment_facts_local AS
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
FROM referralops.events_local
WHERE event_type IN ('appointment.booked', 'appointment.rescheduled', 'appointment.cancelled',
                     'appointment.no_show', 'appointment.completed')
  AND appointment_id != ''
GROUP BY referral_id, appointment_id;

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

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 3, 'appointment_facts', now();

-- 0004_kpi_index
CREATE TABLE IF NOT EXISTS referralops.kpi_index_local ON CLUSTER c1
(
    kind UInt8,
    key_value String,
    at DateTime('UTC'),
    referral String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/referralops/kpi_index_local', '{replica}')
ORDER BY (kind, key_value, at, referral)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS referralops.kpi_index ON CLUSTER c1 AS referralops.kpi_index_local
ENGINE = Distributed(c1, referralops, kpi_index_local, cityHash64(referral));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.kpi_index_mv ON CLUSTER c1 TO referralops.kpi_index_local AS
SELECT
    tupleElement(entry, 1) AS kind,
    tupleElement(entry, 2) AS key_value,
    tupleElement(entry, 3) AS at,
    tupleElement(entry, 4) AS referral
FROM referralops.events_local
ARRAY JOIN multiIf(
    event_type = 'referral.created', [
        tuple(toUInt8(1), '', event_time, referral_id),
        tuple(toUInt8(11), CAST(service_line AS String), event_time, referral_id),
        tuple(toUInt8(12), referrer_id, event_time, referral_id),
        tuple(toUInt8(20), CAST(service_line AS String), toDateTime(0, 'UTC'), '')],
    event_type = 'appointment.completed', [tuple(toUInt8(2), '', event_time, referral_id)],
    event_type = 'appointment.booked', [
        tuple(toUInt8(3), '', scheduled_for, referral_id),
        tuple(toUInt8(5), '', event_time, referral_id)],
    event_type = 'appointment.rescheduled', [tuple(toUInt8(3), '', scheduled_for, referral_id)],
    event_type IN ('referral.cancelled', 'referral.rejected'), [tuple(toUInt8(6), '', event_time, referral_id)],
    [tuple(toUInt8(4), '', event_time, referral_id)]) AS entry
WHERE event_type IN ('referral.created', 'appointment.completed', 'appointment.booked', 'appointment.rescheduled',
                     'referral.auth_approved', 'referral.auth_denied', 'referral.cancelled', 'referral.rejected')
GROUP BY kind, key_value, at, referral;

INSERT INTO referralops.kpi_index
SELECT
    tupleElement(entry, 1) AS kind,
    tupleElement(entry, 2) AS key_value,
    tupleElement(entry, 3) AS at,
    tupleElement(entry, 4) AS referral
FROM referralops.events
ARRAY JOIN multiIf(
    event_type = 'referral.created', [
        tuple(toUInt8(1), '', event_time, referral_id),
        tuple(toUInt8(11), CAST(service_line AS String), event_time, referral_id),
        tuple(toUInt8(12), referrer_id, event_time, referral_id),
        tuple(toUInt8(20), CAST(service_line AS String), toDateTime(0, 'UTC'), '')],
    event_type = 'appointment.completed', [tuple(toUInt8(2), '', event_time, referral_id)],
    event_type = 'appointment.booked', [
        tuple(toUInt8(3), '', scheduled_for, referral_id),
        tuple(toUInt8(5), '', event_time, referral_id)],
    event_type = 'appointment.rescheduled', [tuple(toUInt8(3), '', scheduled_for, referral_id)],
    event_type IN ('referral.cancelled', 'referral.rejected'), [tuple(toUInt8(6), '', event_time, referral_id)],
    [tuple(toUInt8(4), '', event_time, referral_id)]) AS entry
WHERE event_type IN ('referral.created', 'appointment.completed', 'appointment.booked', 'appointment.rescheduled',
                     'referral.auth_approved', 'referral.auth_denied', 'referral.cancelled', 'referral.rejected')
GROUP BY kind, key_value, at, referral;

CREATE TABLE IF NOT EXISTS referralops.kpi_referrers_local ON CLUSTER c1
(
    referrer_id String,
    first_created AggregateFunction(min, DateTime('UTC')),
    first_referral AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/kpi_referrers_local', '{replica}')
ORDER BY referrer_id
SETTINGS index_granularity = 8;

CREATE TABLE IF NOT EXISTS referralops.kpi_referrers ON CLUSTER c1 AS referralops.kpi_referrers_local
ENGINE = Distributed(c1, referralops, kpi_referrers_local, cityHash64(referrer_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.kpi_referrers_mv ON CLUSTER c1 TO referralops.kpi_referrers_local AS
SELECT
    referrer_id,
    minState(event_time) AS first_created,
    argMinState(referral_id, tuple(event_time, event_id)) AS first_referral
FROM referralops.events_local
WHERE event_type = 'referral.created'
GROUP BY referrer_id;

INSERT INTO referralops.kpi_referrers
SELECT
    referrer_id,
    minState(event_time) AS first_created,
    argMinState(referral_id, tuple(event_time, event_id)) AS first_referral
FROM referralops.events
WHERE event_type = 'referral.created'
GROUP BY referrer_id;

CREATE TABLE IF NOT EXISTS referralops.kpi_created_local ON CLUSTER c1
(
    referral_id String,
    event_time DateTime('UTC'),
    event_id String,
    service_line String,
    location_id String,
    referrer_id String,
    referrer_type String,
    referrer_network String,
    payer_class String,
    priority String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/referralops/kpi_created_local', '{replica}')
ORDER BY (referral_id, event_time, event_id)
SETTINGS index_granularity = 16;

CREATE TABLE IF NOT EXISTS referralops.kpi_created ON CLUSTER c1 AS referralops.kpi_created_local
ENGINE = Distributed(c1, referralops, kpi_created_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.kpi_created_mv ON CLUSTER c1 TO referralops.kpi_created_local AS
SELECT referral_id, event_time, event_id, service_line, location_id, referrer_id, referrer_type,
       referrer_network, payer_class, priority
FROM referralops.events_local
WHERE event_type = 'referral.created';

INSERT INTO referralops.kpi_created
SELECT referral_id, event_time, event_id, service_line, location_id, referrer_id, referrer_type,
       referrer_network, payer_class, priority
FROM referralops.events
WHERE event_type = 'referral.created';

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 4, 'kpi_index', now();

-- 0005_analyst_views
CREATE VIEW IF NOT EXISTS referralops.v_referrals ON CLUSTER c1 AS
SELECT
    referral_id,
    if(created_at = 0, NULL, toDateTime(created_at, 'UTC')) AS created_at,
    service_line,
    location_id,
    referrer_id,
    referrer_org_id,
    referrer_type,
    referrer_network,
    payer_class,
    priority,
    channel,
    destination_network,
    leaked,
    closed,
    toUInt8(info_requested_at > 0) AS incomplete,
    if(first_booked_at = 0, NULL, toDateTime(first_booked_at, 'UTC')) AS first_booked_at,
    if(access_at = 0, NULL, toDateTime(access_at, 'UTC')) AS access_at,
    if(first_completed_at = 0, NULL, toDateTime(first_completed_at, 'UTC')) AS first_completed_at,
    if(loop_closed_at = 0, NULL, toDateTime(loop_closed_at, 'UTC')) AS loop_closed_at,
    if(created_at = 0 OR first_booked_at = 0, NULL, (toInt64(first_booked_at) - toInt64(created_at)) / 86400) AS days_to_schedule,
    if(created_at = 0 OR access_at = 0, NULL, (toInt64(access_at) - toInt64(created_at)) / 86400) AS days_to_appointment,
    if(first_completed_at = 0 OR loop_closed_at = 0, NULL, (toInt64(loop_closed_at) - toInt64(first_completed_at)) / 86400) AS days_to_loop_close
FROM
(
SELECT
    referral_id,
    toUInt32(created) AS created_at,
    if(created > 0, service_line, '') AS service_line,
    if(created > 0, location_id, '') AS location_id,
    if(created > 0, referrer_id, '') AS referrer_id,
    if(created > 0, referrer_org_id, '') AS referrer_org_id,
    if(created > 0, referrer_type, '') AS referrer_type,
    if(created > 0, referrer_network, '') AS referrer_network,
    if(created > 0, payer_class, '') AS payer_class,
    if(created > 0, priority, '') AS priority,
    if(created > 0, channel, '') AS channel,
    destination_network,
    toUInt8(destination_network = 'out' OR leaked_event > 0) AS leaked,
    toUInt32(first_booked) AS first_booked_at,
    toUInt32(access) AS access_at,
    toUInt32(first_completed) AS first_completed_at,
    toUInt32(if(first_completed > 0,
        arrayReduce('min', arrayMap(x -> x.1, arrayFilter(x -> x.1 >= first_completed AND x.1 <= now(), notes))),
        toDateTime(0, 'UTC'))) AS loop_closed_at,
    toUInt8(closed > 0) AS closed,
    toUInt32(info_requested) AS info_requested_at
FROM
(
    SELECT
        referral_id,
        minMerge(first_event_at) AS m_first_event,
        minIfMerge(created_at) AS m_created,
        if(m_created > toDateTime(0, 'UTC') AND m_created <= now(), m_created, toDateTime(0, 'UTC')) AS created,
        argMinIfMerge(dim_service_line) AS service_line,
        argMinIfMerge(dim_location_id) AS location_id,
        argMinIfMerge(dim_referrer_id) AS referrer_id,
        argMinIfMerge(dim_referrer_org_id) AS referrer_org_id,
        argMinIfMerge(dim_referrer_type) AS referrer_type,
        argMinIfMerge(dim_referrer_network) AS referrer_network,
        argMinIfMerge(dim_payer_class) AS payer_class,
        argMinIfMerge(dim_priority) AS priority,
        argMinIfMerge(dim_channel) AS channel,
        tupleElement(arrayReduce('max', arrayFilter(x -> x.1 <= now(), groupUniqArrayIfMerge(destinations))), 4)
            AS destination_network,
        minIfMerge(leaked_at) AS m_leaked,
        if(m_leaked > toDateTime(0, 'UTC') AND m_leaked <= now(), m_leaked, toDateTime(0, 'UTC')) AS leaked_event,
        minIfMerge(first_booked_at) AS m_first_booked,
        if(m_first_booked > toDateTime(0, 'UTC') AND m_first_booked <= now(), m_first_booked, toDateTime(0, 'UTC')) AS first_booked,
        minIfMerge(first_completed_at) AS m_first_completed,
        if(m_first_completed > toDateTime(0, 'UTC') AND m_first_completed <= now(), m_first_completed, toDateTime(0, 'UTC')) AS first_completed,
        groupUniqArrayIfMerge(consult_notes) AS notes,
        minIfMerge(closed_at) AS m_closed,
        if(m_closed > toDateTime(0, 'UTC') AND m_closed <= now(), m_closed, toDateTime(0, 'UTC')) AS closed,
        minIfMerge(info_requested_at) AS m_info_requested,
        if(m_info_requested > toDateTime(0, 'UTC') AND m_info_requested <= now(), m_info_requested, toDateTime(0, 'UTC')) AS info_requested
    FROM referralops.referral_facts
    GROUP BY referral_id
    HAVING m_first_event <= now()
) AS r
ANY LEFT JOIN
(
    SELECT
        referral_id,
        minIf(tupleElement(last_slot, 4), tupleElement(last_event, 2) != 3 AND tupleElement(last_slot, 4) > toDateTime(0, 'UTC')) AS access
    FROM
    (
        SELECT
            referral_id,
            appointment_id,
            arrayFilter(x -> x.1 <= now(), groupUniqArrayMerge(history)) AS h,
            arrayReduce('max', h) AS last_event,
            arrayReduce('max', arrayFilter(x -> x.2 <= 2, h)) AS last_slot
        FROM referralops.appointment_facts
        GROUP BY referral_id, appointment_id
        HAVING length(h) > 0
    )
    GROUP BY referral_id
) AS a USING (referral_id)
ORDER BY referral_id

);

CREATE VIEW IF NOT EXISTS referralops.v_unscheduled_worklist ON CLUSTER c1 AS
SELECT
    referral_id,
    service_line,
    location_id,
    referrer_type,
    priority,
    created_at,
    intDiv(toInt64(now()) - toInt64(created_at), 86400) AS age_days
FROM referralops.v_referrals
WHERE created_at > now() - 365 * 86400
  AND closed = 0 AND leaked = 0 AND first_booked_at IS NULL
ORDER BY created_at, referral_id;

CREATE VIEW IF NOT EXISTS referralops.v_referrer_scorecard ON CLUSTER c1 AS
SELECT
    referrer_id,
    referrer_type,
    referrer_network,
    referrals_90d,
    round(referrals_before * 90 / 275, 1) AS baseline_90d,
    referrals_365d,
    round(scheduled / referrals_365d, 3) AS scheduled_rate,
    round(completed / referrals_365d, 3) AS completed_rate,
    round(leaked_referrals / referrals_365d, 3) AS leakage_rate,
    round(median_days, 1) AS median_days_to_appointment,
    loop_cohort,
    if(loop_cohort = 0, NULL, round(loop_closed / loop_cohort, 3)) AS closed_loop_rate
FROM
(
    SELECT
        referrer_id,
        argMax(referrer_type, created_at) AS referrer_type,
        argMax(referrer_network, created_at) AS referrer_network,
        countIf(created_at > now() - 90 * 86400) AS referrals_90d,
        countIf(created_at <= now() - 90 * 86400) AS referrals_before,
        count() AS referrals_365d,
        countIf(first_booked_at IS NOT NULL) AS scheduled,
        countIf(first_completed_at IS NOT NULL) AS completed,
        countIf(leaked = 1) AS leaked_referrals,
        median(days_to_appointment) AS median_days,
        countIf(first_completed_at <= now() - 14 * 86400) AS loop_cohort,
        countIf(first_completed_at <= now() - 14 * 86400 AND days_to_loop_close <= 14) AS loop_closed
    FROM referralops.v_referrals
    WHERE created_at > now() - 365 * 86400
    GROUP BY referrer_id
)
ORDER BY referrals_365d DESC, referrer_id;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 5, 'analyst_views', now();

-- 0006_loop_views
CREATE VIEW IF NOT EXISTS referralops.v_loops ON CLUSTER c1 AS
SELECT
    referral_id,
    service_line,
    location_id,
    referrer_id,
    referrer_type,
    referrer_network,
    first_completed_at,
    loop_closed_at,
    days_to_loop_close,
    toUInt8(ifNull(first_completed_at <= now() - 14 * 86400, 0)) AS loop_matured,
    toUInt8(ifNull(days_to_loop_close <= 14, 0)) AS loop_closed_within_14d
FROM referralops.v_referrals
WHERE first_completed_at IS NOT NULL;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 6, 'loop_views', now();

-- 0007_referrer_attention
CREATE VIEW IF NOT EXISTS referralops.v_referrer_attention ON CLUSTER c1 AS
SELECT referrer_id, referrer_org_id, referrer_type, service_line, n, base, `drop`, days_since_last,
       leak_share, open_loops, level
FROM
(
    SELECT
        referrer AS referrer_id,
        argMax(sl_org, tuple(sl_last, sl_last_rid)) AS referrer_org_id,
        argMax(sl_type, tuple(sl_last, sl_last_rid)) AS referrer_type,
        argMin(sl, tuple(-toInt64(sl_count), sl)) AS service_line,
        sum(sl_n) AS n,
        sum(sl_c) AS c,
        c * 90 / 275 AS base,
        if(c > 0, 1 - n / base, 0) AS `drop`,
        intDiv(toInt64(toUnixTimestamp(now())) - max(sl_last), 86400) AS days_since_last,
        sum(sl_leaked) AS leaked_n,
        sum(sl_count) AS all_n,
        leaked_n / all_n AS leak_share,
        sum(sl_open) AS open_loops,
        multiIf(
            90 * c >= 550 AND (110 * n <= 9 * c OR days_since_last >= 60), 'critical',
            90 * c >= 275 AND (55 * n <= 9 * c OR 2 * leaked_n >= all_n), 'high',
            (c > 0 AND 110 * n <= 27 * c) OR open_loops >= 3, 'medium',
            'minor') AS level,
        indexOf(['critical', 'high', 'medium', 'minor'], level) AS level_rank
    FROM
    (
        SELECT
            referrer,
            sl,
            count() AS sl_count,
            countIf(created > toInt64(toUnixTimestamp(now())) - 90 * 86400) AS sl_n,
            countIf(created <= toInt64(toUnixTimestamp(now())) - 90 * 86400) AS sl_c,
            max(created) AS sl_last,
            argMax(rid, tuple(created, rid)) AS sl_last_rid,
            argMax(rorg, tuple(created, rid)) AS sl_org,
            argMax(rtype, tuple(created, rid)) AS sl_type,
            sum(leaked) AS sl_leaked,
            countIf(completed > 0 AND completed <= toInt64(toUnixTimestamp(now())) - 1209600 AND loop_closed = 0) AS sl_open
        FROM
        (
            SELECT referral_id AS rid, toInt64(toUnixTimestamp(assumeNotNull(created_at))) AS created, referrer_id AS referrer, CAST(referrer_org_id AS String) AS rorg, CAST(referrer_type AS String) AS rtype, CAST(service_line AS String) AS sl, leaked, toInt64(ifNull(toUnixTimestamp(first_completed_at), 0)) AS completed, toUInt8(loop_closed_at IS NOT NULL) AS loop_closed FROM referralops.v_referrals WHERE created_at IS NOT NULL
        )
        WHERE created > toInt64(toUnixTimestamp(now())) - 365 * 86400 AND created <= toInt64(toUnixTimestamp(now()))
        GROUP BY referrer, sl
    )
    GROUP BY referrer
)
ORDER BY level_rank, base DESC, referrer_id;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 7, 'referrer_attention', now();

-- 0008_referral_stages
CREATE TABLE IF NOT EXISTS referralops.referral_stages_local ON CLUSTER c1
(
    referral_id String,
    rejected_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_received AggregateFunction(groupUniqArrayIf, DateTime('UTC'), UInt8),
    leak_reason AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/referral_stages_local', '{replica}')
ORDER BY referral_id;

CREATE TABLE IF NOT EXISTS referralops.referral_stages ON CLUSTER c1 AS referralops.referral_stages_local
ENGINE = Distributed(c1, referralops, referral_stages_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops.referral_stages_mv ON CLUSTER c1 TO referralops.referral_stages_local AS
SELECT
    referral_id,
    minIfState(event_time, event_type = 'referral.rejected') AS rejected_at,
    groupUniqArrayIfState(event_time, event_type = 'referral.info_received') AS info_received,
    argMinIfState(CAST(reason AS String), tuple(event_time, event_id), event_type = 'referral.leaked') AS leak_reason
FROM referralops.events_local
WHERE event_type IN ('referral.rejected', 'referral.info_received', 'referral.leaked')
GROUP BY referral_id;

INSERT INTO referralops.referral_stages
SELECT
    referral_id,
    minIfState(event_time, event_type = 'referral.rejected') AS rejected_at,
    groupUniqArrayIfState(event_time, event_type = 'referral.info_received') AS info_received,
    argMinIfState(CAST(reason AS String), tuple(event_time, event_id), event_type = 'referral.leaked') AS leak_reason
FROM referralops.events
WHERE event_type IN ('referral.rejected', 'referral.info_received', 'referral.leaked')
GROUP BY referral_id;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 8, 'referral_stages', now();

-- 0009_phi_database
CREATE DATABASE IF NOT EXISTS referralops_phi ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.events ON CLUSTER c1;

RENAME TABLE referralops.events_local TO referralops_phi.events_local ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops_phi.events ON CLUSTER c1 AS referralops_phi.events_local
ENGINE = Distributed(c1, referralops_phi, events_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.referral_facts_mv ON CLUSTER c1 TO referralops.referral_facts_local AS
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
FROM referralops_phi.events_local
GROUP BY referral_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.appointment_facts_mv ON CLUSTER c1 TO referralops.appointment_facts_local AS
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
FROM referralops_phi.events_local
WHERE event_type IN ('appointment.booked', 'appointment.rescheduled', 'appointment.cancelled',
                     'appointment.no_show', 'appointment.completed')
  AND appointment_id != ''
GROUP BY referral_id, appointment_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_index_mv ON CLUSTER c1 TO referralops.kpi_index_local AS
SELECT
    tupleElement(entry, 1) AS kind,
    tupleElement(entry, 2) AS key_value,
    tupleElement(entry, 3) AS at,
    tupleElement(entry, 4) AS referral
FROM referralops_phi.events_local
ARRAY JOIN multiIf(
    event_type = 'referral.created', [
        tuple(toUInt8(1), '', event_time, referral_id),
        tuple(toUInt8(11), CAST(service_line AS String), event_time, referral_id),
        tuple(toUInt8(12), referrer_id, event_time, referral_id),
        tuple(toUInt8(20), CAST(service_line AS String), toDateTime(0, 'UTC'), '')],
    event_type = 'appointment.completed', [tuple(toUInt8(2), '', event_time, referral_id)],
    event_type = 'appointment.booked', [
        tuple(toUInt8(3), '', scheduled_for, referral_id),
        tuple(toUInt8(5), '', event_time, referral_id)],
    event_type = 'appointment.rescheduled', [tuple(toUInt8(3), '', scheduled_for, referral_id)],
    event_type IN ('referral.cancelled', 'referral.rejected'), [tuple(toUInt8(6), '', event_time, referral_id)],
    [tuple(toUInt8(4), '', event_time, referral_id)]) AS entry
WHERE event_type IN ('referral.created', 'appointment.completed', 'appointment.booked', 'appointment.rescheduled',
                     'referral.auth_approved', 'referral.auth_denied', 'referral.cancelled', 'referral.rejected')
GROUP BY kind, key_value, at, referral;

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_referrers_mv ON CLUSTER c1 TO referralops.kpi_referrers_local AS
SELECT
    referrer_id,
    minState(event_time) AS first_created,
    argMinState(referral_id, tuple(event_time, event_id)) AS first_referral
FROM referralops_phi.events_local
WHERE event_type = 'referral.created'
GROUP BY referrer_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_created_mv ON CLUSTER c1 TO referralops.kpi_created_local AS
SELECT referral_id, event_time, event_id, service_line, location_id, referrer_id, referrer_type,
       referrer_network, payer_class, priority
FROM referralops_phi.events_local
WHERE event_type = 'referral.created';

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.referral_stages_mv ON CLUSTER c1 TO referralops.referral_stages_local AS
SELECT
    referral_id,
    minIfState(event_time, event_type = 'referral.rejected') AS rejected_at,
    groupUniqArrayIfState(event_time, event_type = 'referral.info_received') AS info_received,
    argMinIfState(CAST(reason AS String), tuple(event_time, event_id), event_type = 'referral.leaked') AS leak_reason
FROM referralops_phi.events_local
WHERE event_type IN ('referral.rejected', 'referral.info_received', 'referral.leaked')
GROUP BY referral_id;

DROP TABLE IF EXISTS referralops.referral_facts_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.appointment_facts_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.kpi_index_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.kpi_referrers_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.kpi_created_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.referral_stages_mv ON CLUSTER c1;

ALTER TABLE referralops.referral_facts_local ON CLUSTER c1 DROP COLUMN dim_patient_token;

DROP TABLE IF EXISTS referralops.referral_facts ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.referral_facts ON CLUSTER c1 AS referralops.referral_facts_local
ENGINE = Distributed(c1, referralops, referral_facts_local, cityHash64(referral_id));

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 9, 'phi_database', now();

-- 0010_cms50
CREATE TABLE IF NOT EXISTS referralops_phi.patient_referrals_local ON CLUSTER c1
(
    patient_token String,
    referral_id String,
    created AggregateFunction(min, Tuple(DateTime('UTC'), String))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops_phi/patient_referrals_local', '{replica}')
ORDER BY (patient_token, referral_id);

CREATE TABLE IF NOT EXISTS referralops_phi.patient_referrals ON CLUSTER c1 AS referralops_phi.patient_referrals_local
ENGINE = Distributed(c1, referralops_phi, patient_referrals_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.referral_patient_order_local ON CLUSTER c1
(
    referral_id String,
    prev_patient_referral_created_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/referralops/referral_patient_order_local', '{replica}', version)
ORDER BY referral_id;

CREATE TABLE IF NOT EXISTS referralops.referral_patient_order ON CLUSTER c1 AS referralops.referral_patient_order_local
ENGINE = Distributed(c1, referralops, referral_patient_order_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.referrer_notes_local ON CLUSTER c1
(
    referral_id String,
    note_times AggregateFunction(groupUniqArray, DateTime('UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/referrer_notes_local', '{replica}')
ORDER BY referral_id;

CREATE TABLE IF NOT EXISTS referralops.referrer_notes ON CLUSTER c1 AS referralops.referrer_notes_local
ENGINE = Distributed(c1, referralops, referrer_notes_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.patient_referrals_mv ON CLUSTER c1 TO referralops_phi.patient_referrals_local AS
SELECT patient_token, referral_id, minState(tuple(event_time, event_id)) AS created
FROM referralops_phi.events_local
WHERE event_type = 'referral.created' AND patient_token != ''
GROUP BY patient_token, referral_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.referrer_notes_mv ON CLUSTER c1 TO referralops.referrer_notes_local AS
SELECT referral_id, groupUniqArrayState(event_time) AS note_times
FROM referralops_phi.events_local
WHERE event_type = 'communication.consult_note_sent' AND recipient IN ('referrer', '')
GROUP BY referral_id;

INSERT INTO referralops_phi.patient_referrals
SELECT patient_token, referral_id, minState(tuple(event_time, event_id)) AS created
FROM referralops_phi.events
WHERE event_type = 'referral.created' AND patient_token != ''
GROUP BY patient_token, referral_id;

INSERT INTO referralops.referrer_notes
SELECT referral_id, groupUniqArrayState(event_time) AS note_times
FROM referralops_phi.events
WHERE event_type = 'communication.consult_note_sent' AND recipient IN ('referrer', '')
GROUP BY referral_id;

INSERT INTO referralops.referral_patient_order (referral_id, prev_patient_referral_created_at, version)
SELECT tupleElement(entry, 2) AS entry_referral, prev_at, order_version
FROM
(
    SELECT
        arraySort(groupArray(tuple(first_at, rid))) AS entries,
        arrayPopBack(arrayPushFront(arrayMap(x -> tupleElement(x, 1), entries), toDateTime(0, 'UTC'))) AS prevs,
        toUInt64(length(entries)) * 4294967296 + toUInt64(toUInt32(now())) AS order_version
    FROM
    (
        SELECT patient_token AS token, referral_id AS rid, tupleElement(minMerge(created), 1) AS first_at
        FROM referralops_phi.patient_referrals
        GROUP BY patient_token, referral_id
    )
    GROUP BY token
)
ARRAY JOIN entries AS entry, prevs AS prev_at;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 10, 'cms50', now();

-- 0011_referral_stage_columns
DROP TABLE IF EXISTS referralops.v_referrals ON CLUSTER c1;

CREATE VIEW IF NOT EXISTS referralops.v_referrals ON CLUSTER c1 AS
SELECT
    referral_id,
    if(created_at = 0, NULL, toDateTime(created_at, 'UTC')) AS created_at,
    service_line,
    location_id,
    referrer_id,
    referrer_org_id,
    referrer_type,
    referrer_network,
    payer_class,
    priority,
    channel,
    destination_network,
    leaked,
    closed,
    toUInt8(s_info_req > 0) AS incomplete,
    if(first_booked_at = 0, NULL, toDateTime(first_booked_at, 'UTC')) AS first_booked_at,
    if(access_at = 0, NULL, toDateTime(access_at, 'UTC')) AS access_at,
    if(first_completed_at = 0, NULL, toDateTime(first_completed_at, 'UTC')) AS first_completed_at,
    if(loop_closed_at = 0, NULL, toDateTime(loop_closed_at, 'UTC')) AS loop_closed_at,
    if(created_at = 0 OR first_booked_at = 0, NULL, (toInt64(first_booked_at) - toInt64(created_at)) / 86400) AS days_to_schedule,
    if(created_at = 0 OR access_at = 0, NULL, (toInt64(access_at) - toInt64(created_at)) / 86400) AS days_to_appointment,
    if(first_completed_at = 0 OR loop_closed_at = 0, NULL, (toInt64(loop_closed_at) - toInt64(first_completed_at)) / 86400) AS days_to_loop_close,
    if(s_decided = 0, NULL, toDateTime(s_decided, 'UTC')) AS decided_at,
    if(s_auth_req = 0, NULL, toDateTime(s_auth_req, 'UTC')) AS auth_requested_at,
    if(s_auth_decided = 0, NULL, toDateTime(s_auth_decided, 'UTC')) AS auth_decided_at,
    if(s_info_req = 0, NULL, toDateTime(s_info_req, 'UTC')) AS info_requested_at,
    if(s_info_received = 0, NULL, toDateTime(s_info_received, 'UTC')) AS info_received_at,
    if(s_created = 0 OR s_decided = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS business_days_to_triage,
    if(s_auth_decided = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS auth_turnaround_business_days,
    if(s_info_received = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS info_turnaround_business_days,
    nullIf(s_leak_reason, '') AS leak_reason
FROM
(
    SELECT
        *,
        toInt64(created_at) AS s_created,
        toInt64(info_requested_at) AS s_info_req,
        multiIf(m_accepted > toDateTime(0, 'UTC') AND m_accepted <= now() AND NOT (m_rejected > toDateTime(0, 'UTC') AND m_rejected < m_accepted), toInt64(m_accepted), m_rejected > toDateTime(0, 'UTC') AND m_rejected <= now(), toInt64(m_rejected), toInt64(0)) AS s_decided,
        if(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= now(), arrayReduce('min', arrayMap(d -> toInt64(d.1), arrayFilter(d -> d.1 >= m_auth_req AND d.1 <= now(), auths))), toInt64(0)) AS s_auth_decided,
        if(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= now(), toInt64(m_auth_req), toInt64(0)) AS s_auth_req,
        if(toDateTime(s_info_req, 'UTC') > toDateTime(0, 'UTC') AND toDateTime(s_info_req, 'UTC') <= now(), arrayReduce('min', arrayMap(x -> toInt64(x), arrayFilter(x -> x >= toDateTime(s_info_req, 'UTC') AND x <= now(), info_rcvd))), toInt64(0)) AS s_info_received,
        multiIf(leaked = 0, '', m_leaked > toDateTime(0, 'UTC') AND m_leaked <= now(), if(first_leak_reason = '', 'other', first_leak_reason), 'destination_out') AS s_leak_reason
    FROM
    (
SELECT
    referral_id,
    toUInt32(created) AS created_at,
    if(created > 0, service_line, '') AS service_line,
    if(created > 0, location_id, '') AS location_id,
    if(created > 0, referrer_id, '') AS referrer_id,
    if(created > 0, referrer_org_id, '') AS referrer_org_id,
    if(created > 0, referrer_type, '') AS referrer_type,
    if(created > 0, referrer_network, '') AS referrer_network,
    if(created > 0, payer_class, '') AS payer_class,
    if(created > 0, priority, '') AS priority,
    if(created > 0, channel, '') AS channel,
    destination_network,
    toUInt8(destination_network = 'out' OR leaked_event > 0) AS leaked,
    toUInt32(first_booked) AS first_booked_at,
    toUInt32(access) AS access_at,
    toUInt32(first_completed) AS first_completed_at,
    toUInt32(if(first_completed > 0,
        arrayReduce('min', arrayMap(x -> x.1, arrayFilter(x -> x.1 >= first_completed AND x.1 <= now(), notes))),
        toDateTime(0, 'UTC'))) AS loop_closed_at,
    toUInt8(closed > 0) AS closed,
    toUInt32(info_requested) AS info_requested_at
FROM
(
    SELECT
        referral_id,
        minMerge(first_event_at) AS m_first_event,
        minIfMerge(created_at) AS m_created,
        if(m_created > toDateTime(0, 'UTC') AND m_created <= now(), m_created, toDateTime(0, 'UTC')) AS created,
        argMinIfMerge(dim_service_line) AS service_line,
        argMinIfMerge(dim_location_id) AS location_id,
        argMinIfMerge(dim_referrer_id) AS referrer_id,
        argMinIfMerge(dim_referrer_org_id) AS referrer_org_id,
        argMinIfMerge(dim_referrer_type) AS referrer_type,
        argMinIfMerge(dim_referrer_network) AS referrer_network,
        argMinIfMerge(dim_payer_class) AS payer_class,
        argMinIfMerge(dim_priority) AS priority,
        argMinIfMerge(dim_channel) AS channel,
        tupleElement(arrayReduce('max', arrayFilter(x -> x.1 <= now(), groupUniqArrayIfMerge(destinations))), 4)
            AS destination_network,
        minIfMerge(leaked_at) AS m_leaked,
        if(m_leaked > toDateTime(0, 'UTC') AND m_leaked <= now(), m_leaked, toDateTime(0, 'UTC')) AS leaked_event,
        minIfMerge(first_booked_at) AS m_first_booked,
        if(m_first_booked > toDateTime(0, 'UTC') AND m_first_booked <= now(), m_first_booked, toDateTime(0, 'UTC')) AS first_booked,
        minIfMerge(first_completed_at) AS m_first_completed,
        if(m_first_completed > toDateTime(0, 'UTC') AND m_first_completed <= now(), m_first_completed, toDateTime(0, 'UTC')) AS first_completed,
        groupUniqArrayIfMerge(consult_notes) AS notes,
        minIfMerge(closed_at) AS m_closed,
        if(m_closed > toDateTime(0, 'UTC') AND m_closed <= now(), m_closed, toDateTime(0, 'UTC')) AS closed,
        minIfMerge(info_requested_at) AS m_info_requested,
        if(m_info_requested > toDateTime(0, 'UTC') AND m_info_requested <= now(), m_info_requested, toDateTime(0, 'UTC')) AS info_requested
    FROM referralops.referral_facts
    GROUP BY referral_id
    HAVING m_first_event <= now()
) AS r
ANY LEFT JOIN
(
    SELECT
        referral_id,
        minIf(tupleElement(last_slot, 4), tupleElement(last_event, 2) != 3 AND tupleElement(last_slot, 4) > toDateTime(0, 'UTC')) AS access
    FROM
    (
        SELECT
            referral_id,
            appointment_id,
            arrayFilter(x -> x.1 <= now(), groupUniqArrayMerge(history)) AS h,
            arrayReduce('max', h) AS last_event,
            arrayReduce('max', arrayFilter(x -> x.2 <= 2, h)) AS last_slot
        FROM referralops.appointment_facts
        GROUP BY referral_id, appointment_id
        HAVING length(h) > 0
    )
    GROUP BY referral_id
) AS a USING (referral_id)
ORDER BY referral_id

    ) AS f
    ANY LEFT JOIN
    (
        SELECT referral_id, m_accepted, m_auth_req, auths, m_leaked, m_rejected, info_rcvd, first_leak_reason
        FROM
        (
            SELECT
                referral_id,
                minIfMerge(accepted_at) AS m_accepted,
                minIfMerge(auth_requested_at) AS m_auth_req,
                groupUniqArrayIfMerge(auth_decisions) AS auths,
                minIfMerge(leaked_at) AS m_leaked
            FROM referralops.referral_facts
            GROUP BY referral_id
        ) AS rf
        ANY LEFT JOIN
        (
            SELECT
                referral_id,
                minIfMerge(rejected_at) AS m_rejected,
                groupUniqArrayIfMerge(info_received) AS info_rcvd,
                argMinIfMerge(leak_reason) AS first_leak_reason
            FROM referralops.referral_stages
            GROUP BY referral_id
        ) AS st USING (referral_id)
    ) AS s USING (referral_id)
);

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 11, 'referral_stage_columns', now();

-- 0012_light_facts
ALTER TABLE referralops.referral_facts_local ON CLUSTER c1 ADD COLUMN created_event AggregateFunction(minIf, Tuple(DateTime('UTC'), String, String, String, String, String, String, String, String, String, String), UInt8) AFTER first_event_at;

DROP TABLE IF EXISTS referralops.referral_facts ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.referral_facts ON CLUSTER c1 AS referralops.referral_facts_local
ENGINE = Distributed(c1, referralops, referral_facts_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.referral_facts_light_mv ON CLUSTER c1 TO referralops.referral_facts_local AS
SELECT
    referral_id,
    minState(event_time) AS first_event_at,
    minIfState(tuple(event_time, event_id, CAST(service_line AS String), CAST(location_id AS String), CAST(referrer_id AS String), CAST(referrer_org_id AS String), CAST(referrer_type AS String), CAST(referrer_network AS String), CAST(payer_class AS String), CAST(priority AS String), CAST(channel AS String)),
        event_type = 'referral.created') AS created_event,
    groupUniqArrayIfState(
        tuple(event_time, toUInt8(event_type = 'referral.redirected'), event_id, CAST(destination_network AS String), destination_org_id),
        event_type IN ('referral.created', 'referral.redirected')) AS destinations,
    minIfState(event_time, event_type = 'referral.accepted') AS accepted_at,
    minIfState(event_time, event_type IN ('referral.cancelled', 'referral.rejected')) AS closed_at,
    minIfState(event_time, event_type = 'referral.info_requested') AS info_requested_at,
    minIfState(event_time, event_type = 'referral.auth_requested') AS auth_requested_at,
    groupUniqArrayIfState(
        tuple(event_time, event_id, toUInt8(event_type = 'referral.auth_approved')),
        event_type IN ('referral.auth_approved', 'referral.auth_denied')) AS auth_decisions,
    minIfState(event_time, event_type = 'referral.leaked') AS leaked_at,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    minIfState(event_time, event_type = 'appointment.completed') AS first_completed_at,
    groupUniqArrayIfState(tuple(event_time, event_id), event_type = 'communication.consult_note_sent') AS consult_notes
FROM referralops_phi.events_local
GROUP BY referral_id;

INSERT INTO referralops.referral_facts (referral_id, created_event)
SELECT referral_id, minIfState(tuple(tupleElement(first_created, 1), tupleElement(first_created, 3), d_service_line, d_location_id, d_referrer_id, d_referrer_org_id, d_referrer_type, d_referrer_network, d_payer_class, d_priority, d_channel), toUInt8(1))
FROM
(
    SELECT
        referral_id,
        minIfMerge(created_at) AS m_created,
        arrayReduce('min', arrayFilter(x -> x.2 = 0, groupUniqArrayIfMerge(destinations))) AS first_created,
        argMinIfMerge(dim_service_line) AS d_service_line,
        argMinIfMerge(dim_location_id) AS d_location_id,
        argMinIfMerge(dim_referrer_id) AS d_referrer_id,
        argMinIfMerge(dim_referrer_org_id) AS d_referrer_org_id,
        argMinIfMerge(dim_referrer_type) AS d_referrer_type,
        argMinIfMerge(dim_referrer_network) AS d_referrer_network,
        argMinIfMerge(dim_payer_class) AS d_payer_class,
        argMinIfMerge(dim_priority) AS d_priority,
        argMinIfMerge(dim_channel) AS d_channel
    FROM referralops.referral_facts /* until dim_service_line is dropped */
    GROUP BY referral_id
    HAVING m_created > toDateTime(0, 'UTC')
)
GROUP BY referral_id;

DROP TABLE IF EXISTS referralops_phi.referral_facts_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.v_referrals ON CLUSTER c1;

CREATE VIEW IF NOT EXISTS referralops.v_referrals ON CLUSTER c1 AS
SELECT
    referral_id,
    if(created_at = 0, NULL, toDateTime(created_at, 'UTC')) AS created_at,
    service_line,
    location_id,
    referrer_id,
    referrer_org_id,
    referrer_type,
    referrer_network,
    payer_class,
    priority,
    channel,
    destination_network,
    leaked,
    closed,
    toUInt8(s_info_req > 0) AS incomplete,
    if(first_booked_at = 0, NULL, toDateTime(first_booked_at, 'UTC')) AS first_booked_at,
    if(access_at = 0, NULL, toDateTime(access_at, 'UTC')) AS access_at,
    if(first_completed_at = 0, NULL, toDateTime(first_completed_at, 'UTC')) AS first_completed_at,
    if(loop_closed_at = 0, NULL, toDateTime(loop_closed_at, 'UTC')) AS loop_closed_at,
    if(created_at = 0 OR first_booked_at = 0, NULL, (toInt64(first_booked_at) - toInt64(created_at)) / 86400) AS days_to_schedule,
    if(created_at = 0 OR access_at = 0, NULL, (toInt64(access_at) - toInt64(created_at)) / 86400) AS days_to_appointment,
    if(first_completed_at = 0 OR loop_closed_at = 0, NULL, (toInt64(loop_closed_at) - toInt64(first_completed_at)) / 86400) AS days_to_loop_close,
    if(s_decided = 0, NULL, toDateTime(s_decided, 'UTC')) AS decided_at,
    if(s_auth_req = 0, NULL, toDateTime(s_auth_req, 'UTC')) AS auth_requested_at,
    if(s_auth_decided = 0, NULL, toDateTime(s_auth_decided, 'UTC')) AS auth_decided_at,
    if(s_info_req = 0, NULL, toDateTime(s_info_req, 'UTC')) AS info_requested_at,
    if(s_info_received = 0, NULL, toDateTime(s_info_received, 'UTC')) AS info_received_at,
    if(s_created = 0 OR s_decided = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS business_days_to_triage,
    if(s_auth_decided = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS auth_turnaround_business_days,
    if(s_info_received = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS info_turnaround_business_days,
    nullIf(s_leak_reason, '') AS leak_reason
FROM
(
    SELECT
        *,
        toInt64(created_at) AS s_created,
        toInt64(info_requested_at) AS s_info_req,
        multiIf(m_accepted > toDateTime(0, 'UTC') AND m_accepted <= now() AND NOT (m_rejected > toDateTime(0, 'UTC') AND m_rejected < m_accepted), toInt64(m_accepted), m_rejected > toDateTime(0, 'UTC') AND m_rejected <= now(), toInt64(m_rejected), toInt64(0)) AS s_decided,
        if(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= now(), arrayReduce('min', arrayMap(d -> toInt64(d.1), arrayFilter(d -> d.1 >= m_auth_req AND d.1 <= now(), auths))), toInt64(0)) AS s_auth_decided,
        if(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= now(), toInt64(m_auth_req), toInt64(0)) AS s_auth_req,
        if(toDateTime(s_info_req, 'UTC') > toDateTime(0, 'UTC') AND toDateTime(s_info_req, 'UTC') <= now(), arrayReduce('min', arrayMap(x -> toInt64(x), arrayFilter(x -> x >= toDateTime(s_info_req, 'UTC') AND x <= now(), info_rcvd))), toInt64(0)) AS s_info_received,
        multiIf(leaked = 0, '', m_leaked > toDateTime(0, 'UTC') AND m_leaked <= now(), if(first_leak_reason = '', 'other', first_leak_reason), 'destination_out') AS s_leak_reason
    FROM
    (
SELECT
    referral_id,
    toUInt32(created) AS created_at,
    if(created > 0, service_line, '') AS service_line,
    if(created > 0, location_id, '') AS location_id,
    if(created > 0, referrer_id, '') AS referrer_id,
    if(created > 0, referrer_org_id, '') AS referrer_org_id,
    if(created > 0, referrer_type, '') AS referrer_type,
    if(created > 0, referrer_network, '') AS referrer_network,
    if(created > 0, payer_class, '') AS payer_class,
    if(created > 0, priority, '') AS priority,
    if(created > 0, channel, '') AS channel,
    destination_network,
    toUInt8(destination_network = 'out' OR leaked_event > 0) AS leaked,
    toUInt32(first_booked) AS first_booked_at,
    toUInt32(access) AS access_at,
    toUInt32(first_completed) AS first_completed_at,
    toUInt32(if(first_completed > 0,
        arrayReduce('min', arrayMap(x -> x.1, arrayFilter(x -> x.1 >= first_completed AND x.1 <= now(), notes))),
        toDateTime(0, 'UTC'))) AS loop_closed_at,
    toUInt8(closed > 0) AS closed,
    toUInt32(info_requested) AS info_requested_at
FROM
(
    SELECT
        referral_id,
        minMerge(first_event_at) AS m_first_event,
        minIfMerge(created_event) AS m_created_event,
        tupleElement(m_created_event, 1) AS m_created,
        if(m_created > toDateTime(0, 'UTC') AND m_created <= now(), m_created, toDateTime(0, 'UTC')) AS created,
        tupleElement(m_created_event, 3) AS service_line,
        tupleElement(m_created_event, 4) AS location_id,
        tupleElement(m_created_event, 5) AS referrer_id,
        tupleElement(m_created_event, 6) AS referrer_org_id,
        tupleElement(m_created_event, 7) AS referrer_type,
        tupleElement(m_created_event, 8) AS referrer_network,
        tupleElement(m_created_event, 9) AS payer_class,
        tupleElement(m_created_event, 10) AS priority,
        tupleElement(m_created_event, 11) AS channel,
        tupleElement(arrayReduce('max', arrayFilter(x -> x.1 <= now(), groupUniqArrayIfMerge(destinations))), 4)
            AS destination_network,
        minIfMerge(leaked_at) AS m_leaked,
        if(m_leaked > toDateTime(0, 'UTC') AND m_leaked <= now(), m_leaked, toDateTime(0, 'UTC')) AS leaked_event,
        minIfMerge(first_booked_at) AS m_first_booked,
        if(m_first_booked > toDateTime(0, 'UTC') AND m_first_booked <= now(), m_first_booked, toDateTime(0, 'UTC')) AS first_booked,
        minIfMerge(first_completed_at) AS m_first_completed,
        if(m_first_completed > toDateTime(0, 'UTC') AND m_first_completed <= now(), m_first_completed, toDateTime(0, 'UTC')) AS first_completed,
        groupUniqArrayIfMerge(consult_notes) AS notes,
        minIfMerge(closed_at) AS m_closed,
        if(m_closed > toDateTime(0, 'UTC') AND m_closed <= now(), m_closed, toDateTime(0, 'UTC')) AS closed,
        minIfMerge(info_requested_at) AS m_info_requested,
        if(m_info_requested > toDateTime(0, 'UTC') AND m_info_requested <= now(), m_info_requested, toDateTime(0, 'UTC')) AS info_requested
    FROM referralops.referral_facts
    GROUP BY referral_id
    HAVING m_first_event <= now()
) AS r
ANY LEFT JOIN
(
    SELECT
        referral_id,
        minIf(tupleElement(last_slot, 4), tupleElement(last_event, 2) != 3 AND tupleElement(last_slot, 4) > toDateTime(0, 'UTC')) AS access
    FROM
    (
        SELECT
            referral_id,
            appointment_id,
            arrayFilter(x -> x.1 <= now(), groupUniqArrayMerge(history)) AS h,
            arrayReduce('max', h) AS last_event,
            arrayReduce('max', arrayFilter(x -> x.2 <= 2, h)) AS last_slot
        FROM referralops.appointment_facts
        GROUP BY referral_id, appointment_id
        HAVING length(h) > 0
    )
    GROUP BY referral_id
) AS a USING (referral_id)
ORDER BY referral_id

    ) AS f
    ANY LEFT JOIN
    (
        SELECT referral_id, m_accepted, m_auth_req, auths, m_leaked, m_rejected, info_rcvd, first_leak_reason
        FROM
        (
            SELECT
                referral_id,
                minIfMerge(accepted_at) AS m_accepted,
                minIfMerge(auth_requested_at) AS m_auth_req,
                groupUniqArrayIfMerge(auth_decisions) AS auths,
                minIfMerge(leaked_at) AS m_leaked
            FROM referralops.referral_facts
            GROUP BY referral_id
        ) AS rf
        ANY LEFT JOIN
        (
            SELECT
                referral_id,
                minIfMerge(rejected_at) AS m_rejected,
                groupUniqArrayIfMerge(info_received) AS info_rcvd,
                argMinIfMerge(leak_reason) AS first_leak_reason
            FROM referralops.referral_stages
            GROUP BY referral_id
        ) AS st USING (referral_id)
    ) AS s USING (referral_id)
);

ALTER TABLE referralops.referral_facts_local ON CLUSTER c1 DROP COLUMN last_event_at, DROP COLUMN created_at, DROP COLUMN dim_source, DROP COLUMN dim_service_line, DROP COLUMN dim_location_id, DROP COLUMN dim_referrer_id, DROP COLUMN dim_referrer_org_id, DROP COLUMN dim_referrer_type, DROP COLUMN dim_referrer_network, DROP COLUMN dim_payer_class, DROP COLUMN dim_priority, DROP COLUMN dim_channel, DROP COLUMN info_received_at;

DROP TABLE IF EXISTS referralops.referral_facts ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.referral_facts ON CLUSTER c1 AS referralops.referral_facts_local
ENGINE = Distributed(c1, referralops, referral_facts_local, cityHash64(referral_id));

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 12, 'light_facts', now();

-- 0013_light_kpi_index
CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_index_light_mv ON CLUSTER c1 TO referralops.kpi_index_local AS
SELECT
    kind,
    multiIf(kind IN (11, 20), CAST(service_line AS String),
            kind = 12, referrer_id, '') AS key_value,
    multiIf(kind = 20, toDateTime(0, 'UTC'), kind = 3, scheduled_for, event_time) AS at,
    if(kind = 20, '', referral_id) AS referral
FROM referralops_phi.events_local
ARRAY JOIN CAST(multiIf(
    event_type = 'referral.created', [1, 11, 12, 20],
    event_type = 'appointment.completed', [2],
    event_type = 'appointment.booked', [3, 5],
    event_type = 'appointment.rescheduled', [3],
    event_type IN ('referral.cancelled', 'referral.rejected'), [6],
    [4]) AS Array(UInt8)) AS kind
WHERE event_type IN ('referral.created', 'appointment.completed', 'appointment.booked', 'appointment.rescheduled',
                     'referral.auth_approved', 'referral.auth_denied', 'referral.cancelled', 'referral.rejected')
GROUP BY kind, key_value, at, referral;

DROP TABLE IF EXISTS referralops_phi.kpi_index_mv ON CLUSTER c1;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 13, 'light_kpi_index', now();

-- 0014_kpi_index_rows
CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_index_rows_mv ON CLUSTER c1 TO referralops.kpi_index_local AS
SELECT
    kind,
    multiIf(kind = 11, CAST(service_line AS String),
            kind = 12, referrer_id, '') AS key_value,
    if(kind = 3, scheduled_for, event_time) AS at,
    referral_id AS referral
FROM referralops_phi.events_local
ARRAY JOIN CAST(multiIf(
    event_type = 'referral.created', [1, 11, 12],
    event_type = 'appointment.completed', [2],
    event_type = 'appointment.booked', [3, 5],
    event_type = 'appointment.rescheduled', [3],
    event_type IN ('referral.cancelled', 'referral.rejected'), [6],
    [4]) AS Array(UInt8)) AS kind
WHERE event_type IN ('referral.created', 'appointment.completed', 'appointment.booked', 'appointment.rescheduled',
                     'referral.auth_approved', 'referral.auth_denied', 'referral.cancelled', 'referral.rejected');

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_service_lines_mv ON CLUSTER c1 TO referralops.kpi_index_local AS
SELECT
    toUInt8(20) AS kind,
    CAST(service_line AS String) AS key_value,
    toDateTime(0, 'UTC') AS at,
    '' AS referral
FROM referralops_phi.events_local
WHERE event_type = 'referral.created'
GROUP BY key_value;

DROP TABLE IF EXISTS referralops_phi.kpi_index_light_mv ON CLUSTER c1;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 14, 'kpi_index_rows', now();

-- 0015_light_appointment_facts
CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.appointment_facts_light_mv ON CLUSTER c1 TO referralops.appointment_facts_local AS
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
        scheduled_for)) AS history
FROM referralops_phi.events_local
WHERE event_type IN ('appointment.booked', 'appointment.rescheduled', 'appointment.cancelled',
                     'appointment.no_show', 'appointment.completed')
  AND appointment_id != ''
GROUP BY referral_id, appointment_id;

DROP TABLE IF EXISTS referralops_phi.appointment_facts_mv ON CLUSTER c1;

ALTER TABLE referralops.appointment_facts_local ON CLUSTER c1 DROP COLUMN first_booked_at, DROP COLUMN booked_location_id, DROP COLUMN booked_visit_type;

DROP TABLE IF EXISTS referralops.appointment_facts ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.appointment_facts ON CLUSTER c1 AS referralops.appointment_facts_local
ENGINE = Distributed(c1, referralops, appointment_facts_local, cityHash64(referral_id));

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 15, 'light_appointment_facts', now();

-- 0016_light_patient_referrals
ALTER TABLE referralops_phi.patient_referrals_local ON CLUSTER c1 ADD COLUMN first_created AggregateFunction(min, DateTime('UTC')) AFTER referral_id;

DROP TABLE IF EXISTS referralops_phi.patient_referrals ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops_phi.patient_referrals ON CLUSTER c1 AS referralops_phi.patient_referrals_local
ENGINE = Distributed(c1, referralops_phi, patient_referrals_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.patient_referrals_light_mv ON CLUSTER c1 TO referralops_phi.patient_referrals_local AS
SELECT patient_token, referral_id, minState(event_time) AS first_created
FROM referralops_phi.events_local
WHERE event_type = 'referral.created' AND patient_token != ''
GROUP BY patient_token, referral_id;

INSERT INTO referralops_phi.patient_referrals (patient_token, referral_id, first_created)
SELECT token, rid, minState(first_at)
FROM
(
    SELECT patient_token AS token, referral_id AS rid, tupleElement(minMerge(created), 1) AS first_at
    FROM referralops_phi.patient_referrals /* until created is dropped */
    GROUP BY patient_token, referral_id
    HAVING first_at > toDateTime(0, 'UTC')
)
GROUP BY token, rid;

DROP TABLE IF EXISTS referralops_phi.patient_referrals_mv ON CLUSTER c1;

ALTER TABLE referralops_phi.patient_referrals_local ON CLUSTER c1 DROP COLUMN created;

DROP TABLE IF EXISTS referralops_phi.patient_referrals ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops_phi.patient_referrals ON CLUSTER c1 AS referralops_phi.patient_referrals_local
ENGINE = Distributed(c1, referralops_phi, patient_referrals_local, cityHash64(referral_id));

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 16, 'light_patient_referrals', now();

-- 0017_event_lists
ALTER TABLE referralops.referral_facts_local ON CLUSTER c1 ADD COLUMN destinations_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), UInt8, String, String, String), UInt8) AFTER destinations;

ALTER TABLE referralops.referral_facts_local ON CLUSTER c1 ADD COLUMN auth_decisions_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String, UInt8), UInt8) AFTER auth_decisions;

ALTER TABLE referralops.referral_facts_local ON CLUSTER c1 ADD COLUMN consult_notes_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String), UInt8) AFTER consult_notes;

ALTER TABLE referralops.appointment_facts_local ON CLUSTER c1 ADD COLUMN history_list AggregateFunction(groupArray, Tuple(DateTime('UTC'), UInt8, String, DateTime('UTC'))) AFTER history;

DROP TABLE IF EXISTS referralops.referral_facts ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.appointment_facts ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.referral_facts ON CLUSTER c1 AS referralops.referral_facts_local
ENGINE = Distributed(c1, referralops, referral_facts_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.appointment_facts ON CLUSTER c1 AS referralops.appointment_facts_local
ENGINE = Distributed(c1, referralops, appointment_facts_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.referral_facts_lists_mv ON CLUSTER c1 TO referralops.referral_facts_local AS
SELECT
    referral_id,
    minState(event_time) AS first_event_at,
    minIfState(tuple(event_time, event_id, CAST(service_line AS String), CAST(location_id AS String), CAST(referrer_id AS String), CAST(referrer_org_id AS String), CAST(referrer_type AS String), CAST(referrer_network AS String), CAST(payer_class AS String), CAST(priority AS String), CAST(channel AS String)),
        event_type = 'referral.created') AS created_event,
    groupArrayIfState(
        tuple(event_time, toUInt8(event_type = 'referral.redirected'), event_id, CAST(destination_network AS String), destination_org_id),
        event_type IN ('referral.created', 'referral.redirected')) AS destinations_list,
    minIfState(event_time, event_type = 'referral.accepted') AS accepted_at,
    minIfState(event_time, event_type IN ('referral.cancelled', 'referral.rejected')) AS closed_at,
    minIfState(event_time, event_type = 'referral.info_requested') AS info_requested_at,
    minIfState(event_time, event_type = 'referral.auth_requested') AS auth_requested_at,
    groupArrayIfState(
        tuple(event_time, event_id, toUInt8(event_type = 'referral.auth_approved')),
        event_type IN ('referral.auth_approved', 'referral.auth_denied')) AS auth_decisions_list,
    minIfState(event_time, event_type = 'referral.leaked') AS leaked_at,
    minIfState(event_time, event_type = 'appointment.booked') AS first_booked_at,
    minIfState(event_time, event_type = 'appointment.completed') AS first_completed_at,
    groupArrayIfState(tuple(event_time, event_id), event_type = 'communication.consult_note_sent') AS consult_notes_list
FROM referralops_phi.events_local
GROUP BY referral_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.appointment_facts_lists_mv ON CLUSTER c1 TO referralops.appointment_facts_local AS
SELECT
    referral_id,
    appointment_id,
    groupArrayState(tuple(
        event_time,
        toUInt8(multiIf(
            event_type = 'appointment.booked', 1,
            event_type = 'appointment.rescheduled', 2,
            event_type = 'appointment.cancelled', 3,
            event_type = 'appointment.no_show', 4,
            5)),
        event_id,
        scheduled_for)) AS history_list
FROM referralops_phi.events_local
WHERE event_type IN ('appointment.booked', 'appointment.rescheduled', 'appointment.cancelled',
                     'appointment.no_show', 'appointment.completed')
  AND appointment_id != ''
GROUP BY referral_id, appointment_id;

INSERT INTO referralops.referral_facts (referral_id, destinations_list)
SELECT referral_id, groupArrayIfState(entry, toUInt8(1))
FROM
(
    SELECT referral_id, groupUniqArrayIfMerge(destinations) AS entries
    FROM referralops.referral_facts /* until destinations is dropped */
    GROUP BY referral_id
    HAVING notEmpty(entries)
)
ARRAY JOIN entries AS entry
GROUP BY referral_id;

INSERT INTO referralops.referral_facts (referral_id, auth_decisions_list)
SELECT referral_id, groupArrayIfState(entry, toUInt8(1))
FROM
(
    SELECT referral_id, groupUniqArrayIfMerge(auth_decisions) AS entries
    FROM referralops.referral_facts /* until auth_decisions is dropped */
    GROUP BY referral_id
    HAVING notEmpty(entries)
)
ARRAY JOIN entries AS entry
GROUP BY referral_id;

INSERT INTO referralops.referral_facts (referral_id, consult_notes_list)
SELECT referral_id, groupArrayIfState(entry, toUInt8(1))
FROM
(
    SELECT referral_id, groupUniqArrayIfMerge(consult_notes) AS entries
    FROM referralops.referral_facts /* until consult_notes is dropped */
    GROUP BY referral_id
    HAVING notEmpty(entries)
)
ARRAY JOIN entries AS entry
GROUP BY referral_id;

INSERT INTO referralops.appointment_facts (referral_id, appointment_id, history_list)
SELECT referral_id, appointment_id, groupArrayState(entry)
FROM
(
    SELECT referral_id, appointment_id, groupUniqArrayMerge(history) AS entries
    FROM referralops.appointment_facts /* until history is dropped */
    GROUP BY referral_id, appointment_id
    HAVING notEmpty(entries)
)
ARRAY JOIN entries AS entry
GROUP BY referral_id, appointment_id;

DROP TABLE IF EXISTS referralops_phi.referral_facts_light_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops_phi.appointment_facts_light_mv ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.v_referrals ON CLUSTER c1;

CREATE VIEW IF NOT EXISTS referralops.v_referrals ON CLUSTER c1 AS
SELECT
    referral_id,
    if(created_at = 0, NULL, toDateTime(created_at, 'UTC')) AS created_at,
    service_line,
    location_id,
    referrer_id,
    referrer_org_id,
    referrer_type,
    referrer_network,
    payer_class,
    priority,
    channel,
    destination_network,
    leaked,
    closed,
    toUInt8(s_info_req > 0) AS incomplete,
    if(first_booked_at = 0, NULL, toDateTime(first_booked_at, 'UTC')) AS first_booked_at,
    if(access_at = 0, NULL, toDateTime(access_at, 'UTC')) AS access_at,
    if(first_completed_at = 0, NULL, toDateTime(first_completed_at, 'UTC')) AS first_completed_at,
    if(loop_closed_at = 0, NULL, toDateTime(loop_closed_at, 'UTC')) AS loop_closed_at,
    if(created_at = 0 OR first_booked_at = 0, NULL, (toInt64(first_booked_at) - toInt64(created_at)) / 86400) AS days_to_schedule,
    if(created_at = 0 OR access_at = 0, NULL, (toInt64(access_at) - toInt64(created_at)) / 86400) AS days_to_appointment,
    if(first_completed_at = 0 OR loop_closed_at = 0, NULL, (toInt64(loop_closed_at) - toInt64(first_completed_at)) / 86400) AS days_to_loop_close,
    if(s_decided = 0, NULL, toDateTime(s_decided, 'UTC')) AS decided_at,
    if(s_auth_req = 0, NULL, toDateTime(s_auth_req, 'UTC')) AS auth_requested_at,
    if(s_auth_decided = 0, NULL, toDateTime(s_auth_decided, 'UTC')) AS auth_decided_at,
    if(s_info_req = 0, NULL, toDateTime(s_info_req, 'UTC')) AS info_requested_at,
    if(s_info_received = 0, NULL, toDateTime(s_info_received, 'UTC')) AS info_received_at,
    if(s_created = 0 OR s_decided = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_decided, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_created, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS business_days_to_triage,
    if(s_auth_decided = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_decided, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_auth_req, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS auth_turnaround_business_days,
    if(s_info_received = 0, NULL,
        if(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) > toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))), intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 3, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 3, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 2, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 2, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 1, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 1, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 7, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 7, 7) + intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_received, 'UTC'), 'UTC'))) + 6, 7) - intDiv(toInt64(toUInt32(toDate(toDateTime(s_info_req, 'UTC'), 'UTC'))) + 6, 7), toInt64(0))) AS info_turnaround_business_days,
    nullIf(s_leak_reason, '') AS leak_reason
FROM
(
    SELECT
        *,
        toInt64(created_at) AS s_created,
        toInt64(info_requested_at) AS s_info_req,
        multiIf(m_accepted > toDateTime(0, 'UTC') AND m_accepted <= now() AND NOT (m_rejected > toDateTime(0, 'UTC') AND m_rejected < m_accepted), toInt64(m_accepted), m_rejected > toDateTime(0, 'UTC') AND m_rejected <= now(), toInt64(m_rejected), toInt64(0)) AS s_decided,
        if(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= now(), arrayReduce('min', arrayMap(d -> toInt64(d.1), arrayFilter(d -> d.1 >= m_auth_req AND d.1 <= now(), auths))), toInt64(0)) AS s_auth_decided,
        if(m_auth_req > toDateTime(0, 'UTC') AND m_auth_req <= now(), toInt64(m_auth_req), toInt64(0)) AS s_auth_req,
        if(toDateTime(s_info_req, 'UTC') > toDateTime(0, 'UTC') AND toDateTime(s_info_req, 'UTC') <= now(), arrayReduce('min', arrayMap(x -> toInt64(x), arrayFilter(x -> x >= toDateTime(s_info_req, 'UTC') AND x <= now(), info_rcvd))), toInt64(0)) AS s_info_received,
        multiIf(leaked = 0, '', m_leaked > toDateTime(0, 'UTC') AND m_leaked <= now(), if(first_leak_reason = '', 'other', first_leak_reason), 'destination_out') AS s_leak_reason
    FROM
    (
SELECT
    referral_id,
    toUInt32(created) AS created_at,
    if(created > 0, service_line, '') AS service_line,
    if(created > 0, location_id, '') AS location_id,
    if(created > 0, referrer_id, '') AS referrer_id,
    if(created > 0, referrer_org_id, '') AS referrer_org_id,
    if(created > 0, referrer_type, '') AS referrer_type,
    if(created > 0, referrer_network, '') AS referrer_network,
    if(created > 0, payer_class, '') AS payer_class,
    if(created > 0, priority, '') AS priority,
    if(created > 0, channel, '') AS channel,
    destination_network,
    toUInt8(destination_network = 'out' OR leaked_event > 0) AS leaked,
    toUInt32(first_booked) AS first_booked_at,
    toUInt32(access) AS access_at,
    toUInt32(first_completed) AS first_completed_at,
    toUInt32(if(first_completed > 0,
        arrayReduce('min', arrayMap(x -> x.1, arrayFilter(x -> x.1 >= first_completed AND x.1 <= now(), notes))),
        toDateTime(0, 'UTC'))) AS loop_closed_at,
    toUInt8(closed > 0) AS closed,
    toUInt32(info_requested) AS info_requested_at
FROM
(
    SELECT
        referral_id,
        minMerge(first_event_at) AS m_first_event,
        minIfMerge(created_event) AS m_created_event,
        tupleElement(m_created_event, 1) AS m_created,
        if(m_created > toDateTime(0, 'UTC') AND m_created <= now(), m_created, toDateTime(0, 'UTC')) AS created,
        tupleElement(m_created_event, 3) AS service_line,
        tupleElement(m_created_event, 4) AS location_id,
        tupleElement(m_created_event, 5) AS referrer_id,
        tupleElement(m_created_event, 6) AS referrer_org_id,
        tupleElement(m_created_event, 7) AS referrer_type,
        tupleElement(m_created_event, 8) AS referrer_network,
        tupleElement(m_created_event, 9) AS payer_class,
        tupleElement(m_created_event, 10) AS priority,
        tupleElement(m_created_event, 11) AS channel,
        tupleElement(arrayReduce('max', arrayFilter(x -> x.1 <= now(), arrayDistinct(groupArrayIfMerge(destinations_list)))), 4)
            AS destination_network,
        minIfMerge(leaked_at) AS m_leaked,
        if(m_leaked > toDateTime(0, 'UTC') AND m_leaked <= now(), m_leaked, toDateTime(0, 'UTC')) AS leaked_event,
        minIfMerge(first_booked_at) AS m_first_booked,
        if(m_first_booked > toDateTime(0, 'UTC') AND m_first_booked <= now(), m_first_booked, toDateTime(0, 'UTC')) AS first_booked,
        minIfMerge(first_completed_at) AS m_first_completed,
        if(m_first_completed > toDateTime(0, 'UTC') AND m_first_completed <= now(), m_first_completed, toDateTime(0, 'UTC')) AS first_completed,
        arrayDistinct(groupArrayIfMerge(consult_notes_list)) AS notes,
        minIfMerge(closed_at) AS m_closed,
        if(m_closed > toDateTime(0, 'UTC') AND m_closed <= now(), m_closed, toDateTime(0, 'UTC')) AS closed,
        minIfMerge(info_requested_at) AS m_info_requested,
        if(m_info_requested > toDateTime(0, 'UTC') AND m_info_requested <= now(), m_info_requested, toDateTime(0, 'UTC')) AS info_requested
    FROM referralops.referral_facts
    GROUP BY referral_id
    HAVING m_first_event <= now()
) AS r
ANY LEFT JOIN
(
    SELECT
        referral_id,
        minIf(tupleElement(last_slot, 4), tupleElement(last_event, 2) != 3 AND tupleElement(last_slot, 4) > toDateTime(0, 'UTC')) AS access
    FROM
    (
        SELECT
            referral_id,
            appointment_id,
            arrayFilter(x -> x.1 <= now(), arrayDistinct(groupArrayMerge(history_list))) AS h,
            arrayReduce('max', h) AS last_event,
            arrayReduce('max', arrayFilter(x -> x.2 <= 2, h)) AS last_slot
        FROM referralops.appointment_facts
        GROUP BY referral_id, appointment_id
        HAVING length(h) > 0
    )
    GROUP BY referral_id
) AS a USING (referral_id)
ORDER BY referral_id

    ) AS f
    ANY LEFT JOIN
    (
        SELECT referral_id, m_accepted, m_auth_req, auths, m_leaked, m_rejected, info_rcvd, first_leak_reason
        FROM
        (
            SELECT
                referral_id,
                minIfMerge(accepted_at) AS m_accepted,
                minIfMerge(auth_requested_at) AS m_auth_req,
                arrayDistinct(groupArrayIfMerge(auth_decisions_list)) AS auths,
                minIfMerge(leaked_at) AS m_leaked
            FROM referralops.referral_facts
            GROUP BY referral_id
        ) AS rf
        ANY LEFT JOIN
        (
            SELECT
                referral_id,
                minIfMerge(rejected_at) AS m_rejected,
                groupUniqArrayIfMerge(info_received) AS info_rcvd,
                argMinIfMerge(leak_reason) AS first_leak_reason
            FROM referralops.referral_stages
            GROUP BY referral_id
        ) AS st USING (referral_id)
    ) AS s USING (referral_id)
);

ALTER TABLE referralops.referral_facts_local ON CLUSTER c1 DROP COLUMN destinations, DROP COLUMN auth_decisions, DROP COLUMN consult_notes;

ALTER TABLE referralops.appointment_facts_local ON CLUSTER c1 DROP COLUMN history;

DROP TABLE IF EXISTS referralops.referral_facts ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.appointment_facts ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.referral_facts ON CLUSTER c1 AS referralops.referral_facts_local
ENGINE = Distributed(c1, referralops, referral_facts_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.appointment_facts ON CLUSTER c1 AS referralops.appointment_facts_local
ENGINE = Distributed(c1, referralops, appointment_facts_local, cityHash64(referral_id));

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 17, 'event_lists', now();

-- 0018_kpi_state
CREATE TABLE IF NOT EXISTS referralops.kpi_touched_local ON CLUSTER c1
(
    touched_at DateTime('UTC'),
    referral_id String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/referralops/kpi_touched_local', '{replica}')
PARTITION BY toYYYYMM(touched_at)
ORDER BY (touched_at, referral_id);

CREATE TABLE IF NOT EXISTS referralops.kpi_touched ON CLUSTER c1 AS referralops.kpi_touched_local
ENGINE = Distributed(c1, referralops, kpi_touched_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.referral_facts_by_created_local ON CLUSTER c1
(
    created_at DateTime('UTC'),
    referral_id String,
    first_event_at AggregateFunction(min, DateTime('UTC')),
    created_event AggregateFunction(minIf, Tuple(DateTime('UTC'), String, String, String, String, String, String, String, String, String, String), UInt8),
    destinations_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), UInt8, String, String, String), UInt8),
    accepted_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    closed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    auth_requested_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    auth_decisions_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String, UInt8), UInt8),
    leaked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_booked_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    first_completed_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    consult_notes_list AggregateFunction(groupArrayIf, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/referral_facts_by_created_local', '{replica}')
ORDER BY (created_at, referral_id);

CREATE TABLE IF NOT EXISTS referralops.referral_facts_by_created ON CLUSTER c1 AS referralops.referral_facts_by_created_local
ENGINE = Distributed(c1, referralops, referral_facts_by_created_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.referral_stages_by_created_local ON CLUSTER c1
(
    created_at DateTime('UTC'),
    referral_id String,
    rejected_at AggregateFunction(minIf, DateTime('UTC'), UInt8),
    info_received AggregateFunction(groupUniqArrayIf, DateTime('UTC'), UInt8),
    leak_reason AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/referral_stages_by_created_local', '{replica}')
ORDER BY (created_at, referral_id);

CREATE TABLE IF NOT EXISTS referralops.referral_stages_by_created ON CLUSTER c1 AS referralops.referral_stages_by_created_local
ENGINE = Distributed(c1, referralops, referral_stages_by_created_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.appointment_facts_by_created_local ON CLUSTER c1
(
    created_at DateTime('UTC'),
    referral_id String,
    appointment_id String,
    history_list AggregateFunction(groupArray, Tuple(DateTime('UTC'), UInt8, String, DateTime('UTC')))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/appointment_facts_by_created_local', '{replica}')
ORDER BY (created_at, referral_id, appointment_id);

CREATE TABLE IF NOT EXISTS referralops.appointment_facts_by_created ON CLUSTER c1 AS referralops.appointment_facts_by_created_local
ENGINE = Distributed(c1, referralops, appointment_facts_by_created_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.kpi_state_index_local ON CLUSTER c1
(
    kind UInt8,
    at DateTime('UTC'),
    created_at DateTime('UTC'),
    referral_id String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/referralops/kpi_state_index_local', '{replica}')
ORDER BY (kind, at, created_at, referral_id);

CREATE TABLE IF NOT EXISTS referralops.kpi_state_index ON CLUSTER c1 AS referralops.kpi_state_index_local
ENGINE = Distributed(c1, referralops, kpi_state_index_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.kpi_state_passes_local ON CLUSTER c1
(
    covered_to DateTime('UTC'),
    passed_at DateTime('UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/referralops/kpi_state_passes_local', '{replica}')
ORDER BY covered_to;

CREATE TABLE IF NOT EXISTS referralops.kpi_state_passes ON CLUSTER c1 AS referralops.kpi_state_passes_local
ENGINE = Distributed(c1, referralops, kpi_state_passes_local, rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_touched_mv ON CLUSTER c1 TO referralops.kpi_touched_local AS
SELECT now() AS touched_at, referral_id
FROM referralops_phi.events_local
GROUP BY referral_id;

INSERT INTO referralops.kpi_touched
SELECT now(), referral_id
FROM referralops.kpi_created
GROUP BY referral_id;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 18, 'kpi_state', now();

-- 0019_kpi_state_cms50
CREATE TABLE IF NOT EXISTS referralops.referral_patient_order_by_created_local ON CLUSTER c1
(
    created_at DateTime('UTC'),
    referral_id String,
    prev_patient_referral_created_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/referralops/referral_patient_order_by_created_local', '{replica}', version)
ORDER BY (created_at, referral_id);

CREATE TABLE IF NOT EXISTS referralops.referral_patient_order_by_created ON CLUSTER c1 AS referralops.referral_patient_order_by_created_local
ENGINE = Distributed(c1, referralops, referral_patient_order_by_created_local, cityHash64(referral_id));

CREATE TABLE IF NOT EXISTS referralops.referrer_notes_by_created_local ON CLUSTER c1
(
    created_at DateTime('UTC'),
    referral_id String,
    note_times AggregateFunction(groupUniqArray, DateTime('UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/referralops/referrer_notes_by_created_local', '{replica}')
ORDER BY (created_at, referral_id);

CREATE TABLE IF NOT EXISTS referralops.referrer_notes_by_created ON CLUSTER c1 AS referralops.referrer_notes_by_created_local
ENGINE = Distributed(c1, referralops, referrer_notes_by_created_local, cityHash64(referral_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS referralops_phi.kpi_touched_order_mv ON CLUSTER c1 TO referralops.kpi_touched_local AS
SELECT now() AS touched_at, referral_id
FROM referralops.referral_patient_order_local
GROUP BY referral_id;

INSERT INTO referralops.kpi_touched
SELECT now(), referral_id
FROM referralops.referral_patient_order
GROUP BY referral_id;

INSERT INTO referralops.kpi_touched
SELECT now(), referral_id
FROM referralops.referrer_notes
GROUP BY referral_id;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 19, 'kpi_state_cms50', now();

-- 0020_kpi_state_created_key
ALTER TABLE referralops.kpi_state_passes_local ON CLUSTER c1 ADD COLUMN state_version UInt8;

ALTER TABLE referralops.referral_facts_by_created_local ON CLUSTER c1 ADD COLUMN created_key AggregateFunction(minIf, String, UInt8);

DROP TABLE IF EXISTS referralops.kpi_state_passes ON CLUSTER c1;

DROP TABLE IF EXISTS referralops.referral_facts_by_created ON CLUSTER c1;

CREATE TABLE IF NOT EXISTS referralops.kpi_state_passes ON CLUSTER c1 AS referralops.kpi_state_passes_local
ENGINE = Distributed(c1, referralops, kpi_state_passes_local, rand());

CREATE TABLE IF NOT EXISTS referralops.referral_facts_by_created ON CLUSTER c1 AS referralops.referral_facts_by_created_local
ENGINE = Distributed(c1, referralops, referral_facts_by_created_local, cityHash64(referral_id));

INSERT INTO referralops.referral_facts_by_created (created_at, referral_id, created_key)
SELECT created_at, referral_id, minIfState(ckey, ckey != '')
FROM
(
    SELECT created_at, referral_id, if(tupleElement(finalizeAggregation(created_event), 1) > toDateTime(0, 'UTC'), concat(toString(toUInt64(tupleElement(finalizeAggregation(created_event), 1)) + 10000000000), '\0', tupleElement(finalizeAggregation(created_event), 2), '\0', tupleElement(finalizeAggregation(created_event), 3), '\0', tupleElement(finalizeAggregation(created_event), 4), '\0', tupleElement(finalizeAggregation(created_event), 5), '\0', tupleElement(finalizeAggregation(created_event), 6), '\0', tupleElement(finalizeAggregation(created_event), 7), '\0', tupleElement(finalizeAggregation(created_event), 8), '\0', tupleElement(finalizeAggregation(created_event), 9), '\0', tupleElement(finalizeAggregation(created_event), 10), '\0', tupleElement(finalizeAggregation(created_event), 11)), '') AS ckey
    FROM referralops.referral_facts_by_created
)
GROUP BY created_at, referral_id;

INSERT INTO referralops.schema_migrations (version, name, applied_at) SELECT 20, 'kpi_state_created_key', now();

