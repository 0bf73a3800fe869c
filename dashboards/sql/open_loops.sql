-- Open loops: referrals whose first completed visit is in the dashboard's time
-- range and at least 14 days old, with no consult note sent back since.
-- Oldest visit first. Ids and dimensions only: no patient data.
SELECT
    referral_id,
    service_line,
    location_id AS location,
    referrer_type,
    first_completed_at,
    intDiv(toInt64(now()) - toInt64(assumeNotNull(first_completed_at)), 86400) AS days_since_visit
FROM v_loops
WHERE $__timeFilter(first_completed_at)
  AND loop_matured = 1
  AND loop_closed_at IS NULL
  AND (decodeURLComponent('${service_line:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${service_line:percentencode}'), '^[{]|[}]$', '')), service_line))
  AND (decodeURLComponent('${location:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${location:percentencode}'), '^[{]|[}]$', '')), location_id))
ORDER BY first_completed_at, referral_id
LIMIT 1000
