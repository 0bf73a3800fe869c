-- No-show KPIs of every window: appointments whose slot (as of T) lies in
-- (T-W, T] and whose status (as of T) is completed or no_show, of referrals
-- created at or before T, grouped by that referral's dimensions. Columns:
-- window_seconds, group_key, appointments_kept_or_missed, no_shows.
SELECT
    w AS window_seconds,
    group_key,
    count() AS appointments_kept_or_missed,
    countIf(last_rank = {{rank "no_show"}}) AS no_shows
FROM
(
    SELECT
        *,
        {{template "windows" .}} AS w,
        {{template "group_keys" .}} AS group_key
    FROM
    (
        SELECT last_rank, slot_at, {{.Dims}}
        FROM
        (
            {{template "appointments" (lookup . "slots").WithCreated}}
        )
        WHERE last_rank IN ({{rank "no_show"}}, {{rank "completed"}}) AND toInt64(slot_at) > {{.CohortFrom}} AND slot_at <= {{.T}}
    )
    WHERE toInt64(slot_at) > {{.TUnix}} - w
)
GROUP BY window_seconds, group_key
