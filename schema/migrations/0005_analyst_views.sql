-- Analyst views: the documented way for people (and Grafana's ClickHouse
-- panels) to read referrals without knowing aggregate states. Each evaluates
-- "now": for a past time, use the KPI SQL or package schema's as-of facts.
-- Read them as the read-only users of deploy/ (referralops_analyst,
-- referralops_grafana). They hold no patient data: patient_token stays in
-- `events`, where only the migration user reads it. On a cluster every server
-- gets the views (ON CLUSTER); they read the Distributed tables.

-- v_referrals: one row per referral with its milestones and durations (days,
-- fractional). NULL means "not yet" (or, for created_at, that its
-- referral.created has not arrived: such a referral is in no KPI).
CREATE VIEW IF NOT EXISTS {{.DB}}.v_referrals{{.OnCluster}} AS
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
{{asofArgMinDims .DB "now()"}}
);

-- v_unscheduled_worklist: the referrals waiting for a booking, oldest first, as
-- the backlog KPI counts them (created in the last 365 days, not closed, not
-- leaked, no booking). Ids and dimensions only.
CREATE VIEW IF NOT EXISTS {{.DB}}.v_unscheduled_worklist{{.OnCluster}} AS
SELECT
    referral_id,
    service_line,
    location_id,
    referrer_type,
    priority,
    created_at,
    intDiv(toInt64(now()) - toInt64(created_at), 86400) AS age_days
FROM {{.DB}}.v_referrals
WHERE created_at > now() - 365 * 86400
  AND closed = 0 AND leaked = 0 AND first_booked_at IS NULL
ORDER BY created_at, referral_id;

-- v_referrer_scorecard: one row per referrer over the last 365 days: volume in
-- the last 90 days against the 275 before (scaled to 90 days, as the activity
-- KPI does), conversion, leakage, time to appointment and closed-loop rate
-- (ratios are NULL where their denominator is 0).
CREATE VIEW IF NOT EXISTS {{.DB}}.v_referrer_scorecard{{.OnCluster}} AS
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
        countIf({{template "loop_matured"}}) AS loop_cohort,
        countIf({{template "loop_matured"}} AND {{template "loop_closed_within"}}) AS loop_closed
    FROM {{.DB}}.v_referrals
    WHERE created_at > now() - 365 * 86400
    GROUP BY referrer_id
)
ORDER BY referrals_365d DESC, referrer_id;
