-- Referrals of one referrer ($referrer, which the liaison worklist's links
-- set) per week (Monday, UTC) over the panel's time range, all service lines
-- and locations, and how many of them leaked: the trend behind its attention
-- level. The id is a free-text variable, so it reaches the SQL only
-- percent-encoded (letters, digits, - _ . ~ and %XX: nothing that can end the
-- string literal) and is decoded by ClickHouse.
SELECT
    toDateTime(toMonday(assumeNotNull(created_at)), 'UTC') AS time,
    count() AS referrals,
    countIf(leaked = 1) AS leaked
FROM v_referrals
WHERE $__timeFilter(created_at)
  AND referrer_id = decodeURLComponent('${referrer:percentencode}')
GROUP BY time
ORDER BY time
