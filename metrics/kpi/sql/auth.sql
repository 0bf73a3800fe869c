-- Authorization KPIs of every window: referral.auth_approved and
-- referral.auth_denied events (each id once) with time in (T-W, T], of
-- referrals created at or before T, grouped by that referral's dimensions.
-- Columns: window_seconds, group_key, auth_decisions, auth_denied.
SELECT
    w AS window_seconds,
    group_key,
    count() AS auth_decisions,
    countIf(tupleElement(decision, 3) = 0) AS auth_denied
FROM
(
    SELECT
        *,
        {{template "windows" .}} AS w,
        {{template "group_keys" .}} AS group_key
    FROM
    (
        -- decision: (time, event id, 1 approved / 0 denied)
        SELECT {{.Dims}},
               arrayJoin(arrayFilter(d -> toInt64(d.1) > {{.CohortFrom}} AND d.1 <= {{.T}}, auths)) AS decision
        FROM
        (
            {{template "referrals" (lookup . "auth")}}
        )
    )
    WHERE toInt64(tupleElement(decision, 1)) > {{.TUnix}} - w
)
GROUP BY window_seconds, group_key
