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
  AND match(service_line, '^(${service_line:regex})$')
  AND match(location_id, '^(${location:regex})$')
GROUP BY service_line
ORDER BY open_loops DESC, service_line
