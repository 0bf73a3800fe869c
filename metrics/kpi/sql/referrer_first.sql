-- The earliest referral.created of each candidate new referrer (kpi_referrers,
-- a row or so each): when, and of which referral. The caller confirms that the
-- referral is the referrer's with referral_dims.sql. Columns: referrer_id,
-- first_created (Unix seconds), referral_id.
SELECT referrer_id, toInt64(minMerge(first_created)), argMinMerge(first_referral)
FROM {{.DB}}.kpi_referrers
WHERE referrer_id IN ({{.Values}})
GROUP BY referrer_id
