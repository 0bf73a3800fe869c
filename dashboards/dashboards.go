package dashboards

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/metrics"
)

// Tag is on every generated dashboard; the dashboards link to each other by it.
const Tag = "referralops"

// Dashboard is one generated dashboard.
type Dashboard struct {
	UID   string
	Title string
	Model dashboard.Dashboard
}

// File is the dashboard's file name in the output directory.
func (d Dashboard) File() string { return d.UID + ".json" }

// JSON is the dashboard as Grafana's file provisioning loads it: indented,
// with a trailing newline, byte-stable across runs.
func (d Dashboard) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // PromQL's > and SQL's < stay readable
	if err := enc.Encode(d.Model); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	return buf.Bytes(), nil
}

//go:embed sql/*.sql
var sqlFiles embed.FS

// generator accumulates errors while the dashboards are built, so one run
// reports every missing metric at once.
type generator struct {
	targets metrics.Targets
	errs    []error
	nextID  uint32
}

func (g *generator) errorf(format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf(format, args...))
}

// id numbers the panels of a dashboard (Grafana needs them unique within it).
func (g *generator) id() uint32 { g.nextID++; return g.nextID }

// sql reads a panel query from sql/, without its comment lines (they document
// the file; the plugin would send them along).
func (g *generator) sql(file string) string {
	b, err := sqlFiles.ReadFile("sql/" + file)
	if err != nil {
		g.errorf("panel SQL: %v", err)
		return "SELECT 1"
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, strings.TrimRight(l, " \t"))
		}
	}
	return strings.Join(lines, "\n")
}

// Build generates every dashboard, its thresholds coloured against targets
// (metrics.DefaultTargets() for the committed files).
func Build(targets metrics.Targets) ([]Dashboard, error) {
	if err := targets.Validate(); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	var out []Dashboard
	var errs []error
	for _, def := range definitions {
		g := &generator{targets: targets}
		b := def.build(g)
		if len(g.errs) > 0 {
			errs = append(errs, fmt.Errorf("dashboard %s: %w", def.uid, errors.Join(g.errs...)))
			continue
		}
		m, err := b.Build()
		if err != nil {
			errs = append(errs, fmt.Errorf("dashboard %s: %w", def.uid, err))
			continue
		}
		out = append(out, Dashboard{UID: def.uid, Title: def.title, Model: m})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// definition is one dashboard of the set.
type definition struct {
	uid, title, purpose string
	build               func(g *generator) *dashboard.DashboardBuilder
}

// definitions in the order Grafana's tag list shows them. Adding a dashboard
// here is all it takes; uids never change once published (links and
// bookmarks use them).
var definitions = []definition{
	{uidExecutive, "Referral operations: executive overview",
		"Volume, conversion, leakage, access against target and closed loop per service line, with week-over-week change.",
		(*generator).executive},
	{uidAccess, "Referral operations: access and scheduling",
		"Time to schedule and to appointment against target, the unscheduled backlog and its worklist, no-shows, denials, incomplete referrals.",
		(*generator).access},
	{uidSources, "Referral operations: referral sources and leakage",
		"Referrer activity, top and fading referrers, leakage by referrer type and network.",
		(*generator).sources},
	{uidClosedLoop, "Referral operations: closed loop and communication",
		"Closed-loop rate against target, consult-note delay, open loops past 14 days.",
		(*generator).closedLoop},
	{uidPipeline, "Referral operations: pipeline health",
		"Ingest rate, consumer lag, dead letters, flush latency, ClickHouse errors, KPI refresh age and errors.",
		(*generator).pipeline},
}

// The dashboards' uids: stable, bookmarked and linked to.
const (
	uidExecutive  = "referralops-executive"
	uidAccess     = "referralops-access"
	uidSources    = "referralops-sources"
	uidClosedLoop = "referralops-closed-loop"
	uidPipeline   = "referralops-pipeline"
)

// board starts a dashboard with the common settings: uid, tag, variables, a
// link to the other referralops dashboards.
func (g *generator) board(uid, title, desc, from, refresh string, vars ...cog.Builder[dashboard.VariableModel]) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(desc).
		Tags([]string{Tag}).
		Editable().
		Timezone("utc").
		Time(from, "now").
		Refresh(refresh).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Variables(vars).
		Link(dashboard.NewDashboardLinkBuilder("Referral operations").
			Type(dashboard.DashboardLinkTypeDashboards).Tags([]string{Tag}).
			AsDropdown(true).IncludeVars(true).KeepTime(true))
}

func (g *generator) row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).Id(g.id())
}

// Write writes each dashboard's JSON into dir (created if needed) and removes
// generated dashboards (referralops-*.json) that are no longer in ds.
func Write(dir string, ds []Dashboard) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dashboards directory: %w", err)
	}
	keep := map[string]bool{}
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			return err
		}
		if err := writeIfChanged(filepath.Join(dir, d.File()), b); err != nil {
			return err
		}
		keep[d.File()] = true
	}
	old, err := filepath.Glob(filepath.Join(dir, Tag+"-*.json"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if !keep[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("remove stale dashboard: %w", err)
			}
		}
	}
	return nil
}

// writeIfChanged leaves an unchanged file alone, so Grafana's provisioning
// does not see a new modification time on every run.
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

var registerOnce sync.Once

// registerPlugins teaches the SDK's decoder the core panels and queries and
// the ClickHouse query.
func registerPlugins() {
	registerOnce.Do(func() {
		plugins.RegisterDefaultPlugins()
		cog.NewRuntime().RegisterDataqueryVariant(ClickHouseVariantConfig())
	})
}

// Decode reads a dashboard JSON into the SDK's model. With strict, it first
// validates the JSON with the SDK's strict decoder, which fails on any field the
// model does not know, a wrong type, a missing required field or an invalid
// ClickHouse query.
func Decode(b []byte, strict bool) (dashboard.Dashboard, error) {
	registerPlugins()
	if strict {
		var d dashboard.Dashboard
		if err := d.UnmarshalJSONStrict(b); !noErrors(err) {
			return dashboard.Dashboard{}, fmt.Errorf("decode dashboard strictly: %w", err)
		}
	}
	var d dashboard.Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return dashboard.Dashboard{}, fmt.Errorf("decode dashboard: %w", err)
	}
	return d, nil
}

// noErrors: the SDK's strict decoders (v0.0.22) return their error list as a
// typed nil (an empty cog.BuildErrors) on success, and then drop the decoded
// panel, so strict decoding only validates; the model comes from the lenient
// decoder.
func noErrors(err error) bool {
	var be cog.BuildErrors
	return err == nil || errors.As(err, &be) && len(be) == 0
}
