-- New referrals per day and service line over the dashboard's time range, by
-- the day (UTC) of their referral.created. Referrals whose referral.created has
-- not arrived have no created_at and are in no count (as in every KPI).
SELECT
    toStartOfDay(assumeNotNull(created_at)) AS time,
    service_line,
    count() AS referrals
FROM v_referrals
WHERE $__timeFilter(created_at)
  AND match(service_line, '^(${service_line:regex})$')
  AND match(location_id, '^(${location:regex})$')
GROUP BY time, service_line
ORDER BY time, service_line
