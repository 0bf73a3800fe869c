// Package kpi evaluates the KPIs of KPIS.md as of a time T over windows W
// (30 and 90 days by default) in ClickHouse, and prints them for
// `referralops kpi` as a table or as the JSON that analysts and tests use.
//
// # API
//
// Evaluate(ctx, querier, db, asOf, windows) returns a Snapshot: per window the
// totals and one Fields per service line (every line with a referral created
// at or before T), plus the referrer activity and the referrer attention
// levels (totals and by referrer type). Request.Worklist lists the referrers
// of KPIS.md "Referrer attention" themselves as of T, most urgent first: the
// as-of variant of the view v_referrer_attention, with the same SQL
// (schema.ReferrerAttentionSQL) over the 365-day lookup.
// Request.Evaluate does the same with extra breakdowns (location, referrer
// type, referrer network, payer class, priority, or combinations such as
// service line × location) and chosen histogram buckets: each breakdown is one
// more group key per referral in the same queries, not another read. Every
// ratio is kept as numerator and denominator, and the time-to-schedule and
// time-to-appointment distributions carry count, sum, exact p50/p90 and
// cumulative bucket counts, so a Prometheus exporter can serve a Snapshot as
// it is. WriteJSON and WriteTable print one.
//
// Every snapshot also has the priorities (WindowSnapshot.ByPriority) and the
// stage KPIs of KPIS.md "Stage, priority and payer KPIs": time to triage,
// authorization and information turnaround, triage SLA breaches counted in
// business days of Request.Calendar (package sla), and leaked referrals by
// payer class and by leak reason. The stage facts referral_facts lacks
// (rejections, information received, leak reasons) come from referral_stages
// (schema migration 0008), read in the same id range as the cohort's facts.
//
// # SQL
//
// The queries live in sql/*.sql, embedded and rendered with text/template
// (common.sql holds the shared blocks), and run unchanged on ClickHouse 18.16
// and current releases (chDB 26.7 in the tests). They are exact: counts of
// referrals, appointments or events (each event id once), nearest-rank
// quantiles from the sorted values in integer arithmetic, never ClickHouse's
// approximate or interpolating quantiles; ties follow the facts schema (the
// earliest referral.created by event id, a redirect over a creation, an
// appointment's status by completed > no_show > cancelled > rescheduled >
// booked).
//
// # What a refresh reads
//
// Each query finds the referrals it is about in kpi_index (migration 0004) by
// a primary-key range of times (created, completed, slot or decision in the
// window, or the fixed 365-day lookback of the backlog and referrer activity),
// then reads their facts from referral_facts, appointment_facts and
// kpi_created in the primary-key range of their ids, which bounds.sql fetches
// first. So the rows read follow the window and the 365 days, not the years
// stored, as long as referral ids grow with time (sequence numbers, as source
// systems and the generator assign): random ids would make those ranges span
// the facts tables (never `events`). Two parts follow the population rather
// than time: telling new referrers from returning ones reads a row or so per
// candidate (kpi_referrers, kpi_created), and service lines are listed from a
// row each. No query uses IN (subquery), which ClickHouse 18.16 re-runs at every
// nesting level and leaves out of system.query_log's read_rows; lookups are
// JOINs, counted once.
//
// It does not schedule refreshes, cache snapshots or serve metrics (that is the
// exporter's), and it does not create schema (package schema's migrations).
package kpi
