// Command referralops is the referral operations metrics pipeline in one
// binary: its subcommands set up ClickHouse, simulate referral events, ingest
// them from Kafka, evaluate and export the KPIs, write the Prometheus rules
// and Grafana dashboards, and run the whole pipeline as a demo. The commands
// map below is their list (`referralops help` prints it with summaries); each
// lives in its own file, and command.go holds what they share: the flag set,
// the YAML file and REFERRALOPS_* layering, validation, the logger and the
// signal context.
//
// Every flag can also be set by a REFERRALOPS_* environment variable (the flag
// name upper-cased, dashes as underscores) or in the YAML file named by
// --config; flags win over the environment, which wins over the file.
package main

import "os"

// commands are the subcommands by name; adding one is a line here and its
// own file.
var commands = map[string]command{
	"migrate":    migrateCommand,
	"access":     accessCommand,
	"ingest":     ingestCommand,
	"generate":   generateCommand,
	"kpi":        kpiCommand,
	"export":     exportCommand,
	"demo":       demoCommand,
	"rules":      rulesCommand,
	"dashboards": dashboardsCommand,
	"convert":    convertCommand,
	"mllp":       mllpCommand,
	"report":     reportCommand,
	"dlq":        dlqCommand,
	"prune":      pruneCommand,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
