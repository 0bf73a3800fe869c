-- v_referrer_attention: the liaison worklist as of now, KPIS.md "Referrer
-- attention": one row per referrer with a referral in the last 365 days, its
-- level (critical, high, medium, minor) and the numbers behind it, critical
-- first, then by base descending. Ids of referrers and their organizations
-- only: no patient, referral or appointment id. The rule is
-- sql/referrer_attention.sql, which package metrics/kpi renders as of any T
-- for `referralops kpi` and `referralops report`. A view over v_referrals
-- (the facts as of now), so it reads every referral, as the other analyst
-- views do.
CREATE VIEW IF NOT EXISTS {{.DB}}.v_referrer_attention{{.OnCluster}} AS
{{referrerAttention (printf "SELECT referral_id AS rid, toInt64(toUnixTimestamp(assumeNotNull(created_at))) AS created, referrer_id AS referrer, CAST(referrer_org_id AS String) AS rorg, CAST(referrer_type AS String) AS rtype, CAST(service_line AS String) AS sl, leaked, toInt64(ifNull(toUnixTimestamp(first_completed_at), 0)) AS completed, toUInt8(loop_closed_at IS NOT NULL) AS loop_closed FROM %s.v_referrals WHERE created_at IS NOT NULL" .DB) "toInt64(toUnixTimestamp(now()))"}};
