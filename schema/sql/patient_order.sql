{{- /* patient_order (migration 0010; RefreshPatientOrder): recompute
referral_patient_order for the patients of the referrals .Referrals (an SQL
array of their ids, referralArray; all patients when empty) from PHIDB's
patient_referrals: the tokens are looked up on the server (events, in its
primary-key order), so no token is ever in a statement's text, which
system.query_log keeps and readers may read. Per patient, the referrals sorted
by (created_at, referral_id), each with the created_at of the one before it (0
for the first). No window functions (18.16): groupArray, arraySort, and
arrayPushFront for the previous times. The version grows with the number of
the patient's referrals, then with the second it was computed, so a later
recompute from more data wins; a repeat of the same one writes the same
values. Aliases differ from every column name (18.16 resolves aliases inside
expressions). */ -}}
{{define "patient_order" -}}
INSERT INTO {{.DB}}.referral_patient_order (referral_id, prev_patient_referral_created_at, version)
SELECT tupleElement(entry, 2) AS entry_referral, prev_at, order_version
FROM
(
    SELECT
        arraySort(groupArray(tuple(first_at, rid))) AS entries,
        -- the times shifted by one: linear, where a lambda reading entries
        -- would copy the array for every element (quadratic in a patient's referrals)
        arrayPopBack(arrayPushFront(arrayMap(x -> tupleElement(x, 1), entries), toDateTime(0, 'UTC'))) AS prevs,
        toUInt64(length(entries)) * 4294967296 + toUInt64(toUInt32(now())) AS order_version
    FROM
    (
        SELECT patient_token AS token, referral_id AS rid, {{if .TupleState}}tupleElement(minMerge(created), 1){{else}}minMerge(first_created){{end}} AS first_at
        FROM {{.PHIDB}}.patient_referrals
        {{- if .Referrals}}
        -- GLOBAL on a cluster: the subquery runs once, over every shard. On
        -- one server a plain IN, which 18.16 answers from the primary key.
        -- PREWHERE when the patients are a small share of the rows (18.16
        -- never moves an IN (subquery) there itself; patientReferrals.prewhere)
        {{if .Prewhere}}PREWHERE{{else}}WHERE{{end}} patient_token {{if .Global}}GLOBAL {{end}}IN
        (
            SELECT patient_token FROM {{.PHIDB}}.events
            -- an array, not a list: 18.16 parses a list of 6,000 ids in 68 ms, an
            -- array of them in 18, one string split into them in less than half that
            WHERE referral_id IN (SELECT arrayJoin({{.Referrals}})) AND event_type = 'referral.created' AND patient_token != ''
        )
        {{- end}}
        GROUP BY patient_token, referral_id
    )
    GROUP BY token
)
ARRAY JOIN entries AS entry, prevs AS prev_at
{{- end}}
