-- New referrals per day and service line over the dashboard's time range, by
-- the day (UTC) of their referral.created. Referrals whose referral.created has
-- not arrived have no created_at and are in no count (as in every KPI).
SELECT
    toStartOfDay(assumeNotNull(created_at)) AS time,
    service_line,
    count() AS referrals
FROM v_referrals
WHERE $__timeFilter(created_at)
  AND (decodeURLComponent('${service_line:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${service_line:percentencode}'), '^[{]|[}]$', '')), service_line))
  AND (decodeURLComponent('${location:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${location:percentencode}'), '^[{]|[}]$', '')), location_id))
GROUP BY time, service_line
ORDER BY time, service_line
