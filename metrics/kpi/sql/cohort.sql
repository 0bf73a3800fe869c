-- Cohort KPIs of every window: C(W) = referrals with created_at in (T-W, T],
-- per breakdown group. One read of the largest window's cohort serves all
-- windows. Columns: window_seconds, group_key, referrals, scheduled, completed,
-- leaked, internal_referrals, internal_leaked, incomplete, then the
-- distributions of time to schedule (tts: first_booked_at - created_at over
-- referrals booked by T) and time to appointment (tta: access_at - created_at
-- over referrals that have an access_at), in seconds.
SELECT
    window_seconds, group_key, referrals, scheduled, completed, leaked,
    internal_referrals, internal_leaked, incomplete,
    {{template "distribution" (args "Name" "tts" "Buckets" .Buckets)}},
    {{template "distribution" (args "Name" "tta" "Buckets" .Buckets)}}
FROM
(
SELECT
    w AS window_seconds,
    group_key,
    count() AS referrals,
    sum(is_booked) AS scheduled,
    sum(is_completed) AS completed,
    sum(is_leaked) AS leaked,
    countIf(rnet = 'in') AS internal_referrals,
    countIf(rnet = 'in' AND is_leaked = 1) AS internal_leaked,
    sum(is_incomplete) AS incomplete,
    arraySort(groupArrayIf(toInt64(m_booked) - toInt64(m_created), is_booked = 1)) AS tts,
    arraySort(groupArrayIf(toInt64(access_at) - toInt64(m_created), access_at > toDateTime(0, 'UTC'))) AS tta
FROM
(
    SELECT
        *,
        {{template "windows" .}} AS w,
        {{template "group_keys" .}} AS group_key
    FROM
    (
        SELECT rid, m_created, rnet{{.DimsExcept "rnet"}},
               m_booked, is_booked, is_completed, is_leaked, is_incomplete, access_at
        FROM
        (
            {{template "referrals" (lookup . "cohort")}}
        ) AS r
        ALL LEFT JOIN
        (
            -- access_at: the earliest slot among the referral's appointments
            -- not cancelled as of T (it may lie after T); 0 when there is none
            SELECT rid, minIf(slot_at, last_rank != {{rank "cancelled"}} AND slot_at > toDateTime(0, 'UTC')) AS access_at
            FROM
            (
                {{template "appointments" (lookup . "cohort")}}
            )
            GROUP BY rid
        ) AS a USING (rid)
        WHERE toInt64(m_created) > {{.CohortFrom}}
    )
    WHERE toInt64(m_created) > {{.TUnix}} - w
)
GROUP BY window_seconds, group_key
)
