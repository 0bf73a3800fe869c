-- The CMS50-style closed loop (KPIS.md "CMS50-style closed loop (version 2)")
-- is patient-based: P = each patient_token's earliest referral created in
-- (T-W, T]. The readers may not see patient_token (0009), so they get a
-- window-independent per-referral fact instead: the created_at of the same
-- patient's previous referral in (created_at, referral_id) order. A referral r
-- is in P iff created_at(r) lies in (T-W, T], r has a token, and that previous
-- created_at is none (0) or <= T-W. Three tables:
--
--   * {{.PHIDB}}.patient_referrals (PHI): per (patient_token, referral_id) of a
--     referral.created with a token, the earliest (event_time, event_id): the
--     referral's created_at and its tie-break, as referral_facts has them;
--     fed by a view, keyed by token so one patient's referrals are one range;
--   * referral_patient_order (readers): per referral with a token, the
--     previous referral's created_at (0 when it is the patient's first) under
--     a version. A view cannot compute it (it sees one block), so the writer
--     recomputes it for the patients of every batch it stores, from
--     patient_referrals (sql/patient_order.sql, schema.RefreshPatientOrder),
--     before it commits the batch's offsets; the highest version wins
--     (argMax when read, ReplacingMergeTree when merged). A referral with a
--     token and no row yet is counted as without one until then;
--   * referrer_notes (readers): per referral, the times of its
--     communication.consult_note_sent to the referrer (recipient `referrer`,
--     or none: the default), which referral_facts' consult_notes do not tell
--     apart.
--
-- The order table shows readers, per referral, when the same (unnamed)
-- patient's previous referral was created: two referrals whose times match
-- may be guessed to share a patient. That is the residual linkage of the
-- design (docs/privacy.md); no token or per-patient key leaves PHIDB.
--
-- On a cluster all three are sharded by referral like the facts: the writer's
-- recompute reads patient_referrals through its Distributed table, which
-- merges one patient's referrals from every shard.
CREATE TABLE IF NOT EXISTS {{.PHI.Local "patient_referrals"}}{{.OnCluster}}
(
    patient_token String,
    referral_id String,
    created AggregateFunction(min, Tuple(DateTime('UTC'), String))
)
ENGINE = {{.PHI.Engine "patient_referrals" "AggregatingMergeTree"}}
ORDER BY (patient_token, referral_id);

{{template "distributed" .PHI.Distributed "patient_referrals" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "referral_patient_order"}}{{.OnCluster}}
(
    referral_id String,
    prev_patient_referral_created_at DateTime('UTC'),
    version UInt64
)
ENGINE = {{.Engine "referral_patient_order" "ReplacingMergeTree" "version"}}
ORDER BY referral_id;

{{template "distributed" .Distributed "referral_patient_order" "cityHash64(referral_id)"}}

CREATE TABLE IF NOT EXISTS {{.Local "referrer_notes"}}{{.OnCluster}}
(
    referral_id String,
    note_times AggregateFunction(groupUniqArray, DateTime('UTC'))
)
ENGINE = {{.Engine "referrer_notes" "AggregatingMergeTree"}}
ORDER BY referral_id;

{{template "distributed" .Distributed "referrer_notes" "cityHash64(referral_id)"}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.patient_referrals_mv{{.OnCluster}} TO {{.PHI.Local "patient_referrals"}} AS
{{- template "patient_referrals_select" .WithEventsInPHI.OnShard}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.PHIDB}}.referrer_notes_mv{{.OnCluster}} TO {{.Local "referrer_notes"}} AS
{{- template "referrer_notes_select" .WithEventsInPHI.OnShard}};

INSERT INTO {{.PHIDB}}.patient_referrals{{.BackfillSettings}}
{{- template "patient_referrals_select" .WithEventsInPHI}};

INSERT INTO {{.DB}}.referrer_notes{{.BackfillSettings}}
{{- template "referrer_notes_select" .WithEventsInPHI}};

{{template "patient_order" (.PatientOrder "")}};
