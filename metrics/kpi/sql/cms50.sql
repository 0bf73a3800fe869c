-- CMS50-style closed loop of every window (KPIS.md "CMS50-style closed loop
-- (version 2)"): P(W) = each patient's earliest referral created in (T-W, T],
-- ties by referral id. A referral of the cohort with a patient token has a
-- row in referral_patient_order (migration 0010) holding the created_at of
-- the same patient's previous referral (0 when none), so it is in P(W) iff
-- that is 0 or <= T-W; no patient key is read. Closed: a consult note to the
-- referrer (referrer_notes) with time in (created_at, T]. Referrals without a
-- token (no order row) are counted apart. Reads the created rows, the order
-- and the notes in the cohort's primary-key range only; a sparse cohort joins
-- the order and the notes with its ids before grouping them, so that with
-- random ids only its referrals are grouped and joined (1.5 s and 120 MiB
-- instead of 3.2-3.7 s and 740 MiB at 10 M events), and one read from the KPI
-- state reads the cohort's rows of them alone (migration 0019). Columns:
-- window_seconds, group_key, cms50_patients, cms50_closed,
-- cms50_no_patient_token.
SELECT
    w AS window_seconds,
    group_key,
    countIf(has_token = 1 AND (toInt64(prev_at) = 0 OR toInt64(prev_at) <= {{.TUnix}} - w)) AS cms50_patients,
    countIf(has_token = 1 AND (toInt64(prev_at) = 0 OR toInt64(prev_at) <= {{.TUnix}} - w) AND note_closed = 1) AS cms50_closed,
    countIf(has_token = 0) AS cms50_no_patient_token
FROM
(
    SELECT
        *,
        {{template "windows" .}} AS w,
        {{template "group_keys" .}} AS group_key
    FROM
    (
        SELECT rid, m_created{{.DimsExcept "rid"}}, has_token, prev_at,
               toUInt8(arrayExists(x -> x > m_created AND x <= {{.T}}, rnotes)) AS note_closed
        FROM
        (
            SELECT *
            FROM
            (
                {{template "created" (lookup . "cohort")}}
            ) AS c
            ALL LEFT JOIN
            (
                SELECT referral_id AS rid, toUInt8(1) AS has_token,
                       argMax(prev_patient_referral_created_at, version) AS prev_at
                {{template "facts_of" (args "L" (lookup . "cohort") "Table" "referral_patient_order" "Columns" "referral_id, prev_patient_referral_created_at, version")}}
                GROUP BY referral_id
            ) AS o USING (rid)
        ) AS co
        ALL LEFT JOIN
        (
            SELECT referral_id AS rid, groupUniqArrayMerge(note_times) AS rnotes
            {{template "facts_of" (args "L" (lookup . "cohort") "Table" "referrer_notes" "Columns" "referral_id, note_times")}}
            GROUP BY referral_id
        ) AS n USING (rid)
        WHERE toInt64(m_created) > {{.CohortFrom}} AND m_created <= {{.T}}
    )
    WHERE toInt64(m_created) > {{.TUnix}} - w
)
GROUP BY window_seconds, group_key
