-- Unscheduled backlog (no window): referrals created in (T-365d, T], not closed,
-- not leaked, not booked by T, by age in whole days floor((T - created_at) / 1d).
-- Columns: group_key, then the open referrals aged 0-2, 3-7, 8-14, 15-30 and 31+
-- days. The 365 days' referrals are many: the "open" lookup leaves out at once
-- those with a booking or closure in kpi_index, only the four facts the backlog
-- needs are merged from referral_facts for the rest, and their dimensions are
-- taken from kpi_created (the first row of each referral) after joining with
-- those, so only candidates are sorted.
SELECT
    group_key,
    countIf(is_open = 1 AND age_days <= 2) AS aged_0_2,
    countIf(is_open = 1 AND age_days >= 3 AND age_days <= 7) AS aged_3_7,
    countIf(is_open = 1 AND age_days >= 8 AND age_days <= 14) AS aged_8_14,
    countIf(is_open = 1 AND age_days >= 15 AND age_days <= 30) AS aged_15_30,
    countIf(is_open = 1 AND age_days >= 31) AS aged_31_plus
FROM
(
    SELECT *, {{template "group_keys" .}} AS group_key
    FROM
    (
        SELECT {{.Dims}},
               intDiv({{.TUnix}} - toInt64(m_created), 86400) AS age_days,
               toUInt8(NOT (m_booked > toDateTime(0, 'UTC') AND m_booked <= {{.T}})
                   AND NOT (m_closed > toDateTime(0, 'UTC') AND m_closed <= {{.T}})
                   AND NOT (dest = 'out' OR (m_leaked > toDateTime(0, 'UTC') AND m_leaked <= {{.T}}))) AS is_open
        FROM
        (
            SELECT {{template "created_columns"}}, m_booked, m_closed, m_leaked, dest
            FROM {{.DB}}.kpi_created
            ALL INNER JOIN
            (
                SELECT
                    referral_id,
                    minIfMerge(first_booked_at) AS m_booked,
                    minIfMerge(closed_at) AS m_closed,
                    minIfMerge(leaked_at) AS m_leaked,
                    {{template "destination" (lookup . "open")}} AS dest
                FROM {{.DB}}.referral_facts
                {{template "restrict" (lookup . "open")}}WHERE {{template "in_range" (lookup . "open")}}
                GROUP BY referral_id
            ) AS f USING referral_id
            WHERE {{template "in_range" (lookup . "open")}}
            ORDER BY referral_id, event_time, event_id
            LIMIT 1 BY referral_id
        )
        WHERE toInt64(m_created) > {{.LookbackFrom}} AND m_created <= {{.T}}
    )
)
GROUP BY group_key
