-- Open loops per service line: referrals whose first completed visit is in the
-- dashboard's time range and at least 14 days old, with no consult note sent
-- back since.
SELECT
    service_line,
    count() AS open_loops
FROM v_loops
WHERE $__timeFilter(first_completed_at)
  AND loop_matured = 1
  AND loop_closed_at IS NULL
  AND (decodeURLComponent('${service_line:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${service_line:percentencode}'), '^[{]|[}]$', '')), service_line))
  AND (decodeURLComponent('${location:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${location:percentencode}'), '^[{]|[}]$', '')), location_id))
GROUP BY service_line
ORDER BY open_loops DESC, service_line
