-- Closed-loop KPIs of every window, with D = schema.LoopClosedWithin (14 days):
-- cohort L(W) = referrals with first_completed_at in (T-W-D, T-D]; closed when
-- the earliest consult note at or after first_completed_at (at or before T) is
-- within D of it, i.e. some note lies in [first_completed_at,
-- first_completed_at + D]. Columns:
-- window_seconds, group_key, loop_cohort, loop_closed_14d.
SELECT
    w AS window_seconds,
    group_key,
    count() AS loop_cohort,
    sum(closed_14d) AS loop_closed_14d
FROM
(
    SELECT
        *,
        {{template "windows" .}} AS w,
        {{template "group_keys" .}} AS group_key
    FROM
    (
        SELECT {{.Dims}}, m_completed,
               toUInt8(arrayExists(x -> x.1 >= m_completed AND toInt64(x.1) <= toInt64(m_completed) + {{.LoopDelay}} AND x.1 <= {{.T}}, notes)) AS closed_14d
        FROM
        (
            {{template "referrals" (lookup . "loop")}}
        )
        WHERE toInt64(m_completed) > {{.LoopFrom}} AND toInt64(m_completed) <= {{.LoopTo}}
    )
    WHERE toInt64(m_completed) > {{.TUnix}} - w - {{.LoopDelay}}
)
GROUP BY window_seconds, group_key
