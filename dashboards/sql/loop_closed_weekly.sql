-- Share of first completed visits with a consult note sent back within 14
-- days, per week (Monday, UTC) of the visit and service line. Only visits at
-- least 14 days old count (matured, as in the closed-loop KPI). The rule is
-- v_loops' columns (schema.LoopClosedWithin).
SELECT
    toDateTime(toMonday(assumeNotNull(first_completed_at)), 'UTC') AS time,
    service_line,
    sum(loop_closed_within_14d) / count() AS closed_within_14d
FROM v_loops
WHERE $__timeFilter(first_completed_at)
  AND loop_matured = 1
  AND (decodeURLComponent('${service_line:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${service_line:percentencode}'), '^[{]|[}]$', '')), service_line))
  AND (decodeURLComponent('${location:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${location:percentencode}'), '^[{]|[}]$', '')), location_id))
GROUP BY time, service_line
ORDER BY time, service_line
