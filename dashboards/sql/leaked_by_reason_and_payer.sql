-- Leaked referrals per service line, leak reason and payer class, over
-- referrals created in the dashboard's time range (v_referrals, evaluated
-- now; leak_reason as the KPIs define it): the drill-down by service line
-- that the Prometheus leakage families, kept to a few series, leave out.
SELECT
    service_line,
    assumeNotNull(leak_reason) AS reason,
    payer_class,
    count() AS leaked
FROM v_referrals
WHERE $__timeFilter(created_at) AND leak_reason IS NOT NULL
  AND (decodeURLComponent('${service_line:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${service_line:percentencode}'), '^[{]|[}]$', '')), service_line))
  AND (decodeURLComponent('${location:percentencode}') = '.*'
       OR has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${location:percentencode}'), '^[{]|[}]$', '')), location_id))
GROUP BY service_line, reason, payer_class
ORDER BY leaked DESC, service_line, reason, payer_class
LIMIT 1000
