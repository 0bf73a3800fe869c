-- v_referrals gains KPIS.md's stage facts ("Stage, priority and payer KPIs"),
-- as of now like its other columns, NULL meaning "not yet":
--   decided_at           the triage decision: earliest referral.accepted or
--                        referral.rejected;
--   auth_requested_at    earliest referral.auth_requested;
--   auth_decided_at      earliest auth_approved or auth_denied at or after it;
--   info_requested_at    earliest referral.info_requested;
--   info_received_at     earliest referral.info_received at or after it;
--   business_days_to_triage, auth_turnaround_business_days,
--   info_turnaround_business_days
--                        bd() between those pairs (KPIS.md), whole business
--                        days of the calendar schema.ViewCalendar (package
--                        sla's default: UTC, Saturday and Sunday off, no
--                        holidays), rendered into the view when it is created:
--                        `referralops kpi --sla-calendar` counts with a site's
--                        own calendar, the view does not;
--   leak_reason          the KPIs' leak reason, NULL when not leaked.
-- The stage expressions and bd() are the KPI queries' own (schema/stages.go,
-- package sla), so the view and `referralops kpi` cannot disagree.
--
-- ClickHouse 18.16 has no CREATE OR REPLACE VIEW: the view is dropped and
-- made again. The views over it (0005 to 0007) name their columns and
-- resolve v_referrals when read, so they keep working; a reader between the
-- two statements gets "table doesn't exist" once. A concurrent migration of
-- 0005 to 0007, whose CREATE VIEW over v_referrals could meet the gap, is
-- behind this one, which recorded them first: Migrate then takes them as done.
-- The old columns keep their names, types and order; the new ones follow.
DROP TABLE IF EXISTS {{.DB}}.v_referrals{{.OnCluster}};

{{template "v_referrals" .WithArgMinDims}};
