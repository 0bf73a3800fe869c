-- The KPI state's creation as one String state (schema/createdkey.go):
-- created_key in referral_facts_by_created, a minIf over the creation packed
-- so that it sorts as created_event's tuple, which the readers take instead:
-- 18.16 reads a tuple state value by value, which cost the refresh queries
-- about 0.35 s of server time at 10 M events with random ids.
--
-- The passes of this release write it and record state_version 2
-- (schema.KPIStateVersion). Those of an earlier release fail once the column
-- is there (their INSERT names no columns), but one in flight during the
-- migration may store rows without it and then record its pass (version 0):
-- neither the readers nor the passes count such passes, so the referrals
-- they covered are read from the facts until a pass of version 2 covers them.
-- The first one passes every referral still in kpi_touched
-- (schema.PruneKPITouched keeps a month or two); the rows of the others get
-- created_key here, from their own created_event (each row's minimum, so the
-- minimum over the rows is the referral's). Until then the KPI queries read
-- more facts, never another number.
ALTER TABLE {{.Local "kpi_state_passes"}}{{.OnCluster}} ADD COLUMN state_version UInt8;

ALTER TABLE {{.Local "referral_facts_by_created"}}{{.OnCluster}} ADD COLUMN created_key AggregateFunction(minIf, String, UInt8);
{{- if .Cluster}}
-- 18.16 refuses ALTER ... ON CLUSTER of a table that is not replicated: the
-- Distributed tables take their columns anew from the local ones.
DROP TABLE IF EXISTS {{.DB}}.kpi_state_passes{{.OnCluster}};

DROP TABLE IF EXISTS {{.DB}}.referral_facts_by_created{{.OnCluster}};
{{- end}}

{{template "distributed" .Distributed "kpi_state_passes" "rand()"}}

{{template "distributed" .Distributed "referral_facts_by_created" "cityHash64(referral_id)"}}

INSERT INTO {{.DB}}.referral_facts_by_created (created_at, referral_id, created_key){{.BackfillSettings}}
SELECT created_at, referral_id, minIfState(ckey, ckey != '')
FROM
(
    SELECT created_at, referral_id, {{createdKeyOf "finalizeAggregation(created_event)"}} AS ckey
    FROM {{.DB}}.referral_facts_by_created
)
GROUP BY created_at, referral_id;
