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
  AND match(service_line, '^(${service_line:regex})$')
  AND match(location_id, '^(${location:regex})$')
GROUP BY time, service_line
ORDER BY time, service_line
