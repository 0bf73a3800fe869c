-- Consult-note delay per service line, over referrals whose first completed
-- visit is in the dashboard's time range: visits, notes sent back, notes within
-- 14 days, and ClickHouse's exact median and p90 of the days from the first
-- completed visit to the first consult note (over referrals with a note).
SELECT
    service_line,
    count() AS visits,
    sum(loop_closed_at IS NOT NULL) AS notes_sent,
    sum(loop_closed_within_14d) AS notes_within_14d,
    round(quantileExact(0.5)(days_to_loop_close), 1) AS p50_days_to_note,
    round(quantileExact(0.9)(days_to_loop_close), 1) AS p90_days_to_note
FROM v_loops
WHERE $__timeFilter(first_completed_at)
  AND (decodeURLComponent('${service_line:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${service_line:percentencode}'), '^[{]|[}]$', '')), service_line))
  AND (decodeURLComponent('${location:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${location:percentencode}'), '^[{]|[}]$', '')), location_id))
GROUP BY service_line
ORDER BY service_line
