-- Every service line ever seen in a referral.created (the kpi_index rows of
-- kind service_line collapse to one per line), a few rows whatever the history. Which of them had a referral
-- created at or before T is decided by the KPI results and first_referrals.sql.
SELECT DISTINCT key_value FROM {{.DB}}.kpi_index WHERE kind = {{kind "service_line"}}
