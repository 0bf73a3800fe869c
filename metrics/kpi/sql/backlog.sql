-- Unscheduled backlog (no window): referrals created in (T-365d, T], not closed,
-- not leaked, not booked by T, by age in whole days floor((T - created_at) / 1d).
-- Columns: group_key, then the open referrals aged 0-2, 3-7, 8-14, 15-30 and 31+
-- days. The 365 days' referrals are many: the "open" lookup leaves out at once
-- those with a booking or closure in kpi_index, so only the rest (about a
-- quarter) have their facts merged.
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
               toUInt8(is_closed = 0 AND is_leaked = 0 AND is_booked = 0) AS is_open
        FROM
        (
            {{template "referrals" (lookup . "open")}}
        )
        WHERE toInt64(m_created) > {{.LookbackFrom}}
    )
)
GROUP BY group_key
