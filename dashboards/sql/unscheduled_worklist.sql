-- The unscheduled worklist: referrals created in the last 365 days, not closed,
-- not leaked, with no booking, oldest first (the backlog KPI's referrals). Ids
-- and dimensions only: no patient data.
SELECT
    referral_id,
    service_line,
    location_id AS location,
    age_days,
    referrer_type,
    priority,
    created_at
FROM v_unscheduled_worklist
WHERE (decodeURLComponent('${service_line:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${service_line:percentencode}'), '^[{]|[}]$', '')), service_line))
  AND (decodeURLComponent('${location:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${location:percentencode}'), '^[{]|[}]$', '')), location_id))
ORDER BY created_at, referral_id
LIMIT 1000
