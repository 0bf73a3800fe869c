package main

import (
	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mllp"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

// fileConfig is the YAML file's shape: one section per package, so one file can
// serve every command (a command ignores the sections it does not use).
type fileConfig struct {
	Log        *logConfig         `yaml:"log"`
	ClickHouse *clickhouse.Config `yaml:"clickhouse"`
	Kafka      *broker.Config     `yaml:"kafka"`
	Event      *event.Config      `yaml:"event"`
	Ingest     *ingest.Config     `yaml:"ingest"`
	KPI        *kpi.Config        `yaml:"kpi"`
	// SLA is kpi.Config's calendar (the same value), a section of its own.
	SLA    *sla.Calendar      `yaml:"sla"`
	Export *metrics.Config    `yaml:"export"`
	MLLP   *mllp.Config       `yaml:"mllp"`
	HTTP   *httpserver.Config `yaml:"http"`
}

func newFileConfig() *fileConfig {
	ch := clickhouse.DefaultConfig()
	kc := broker.DefaultConfig()
	ec := event.DefaultConfig()
	ic := ingest.DefaultConfig()
	kp := kpi.DefaultConfig()
	xc := metrics.DefaultConfig()
	mc := mllp.DefaultConfig()
	hc := httpserver.DefaultConfig()
	return &fileConfig{
		Log:        &logConfig{Format: "auto", Level: "info"},
		ClickHouse: &ch,
		Kafka:      &kc,
		Event:      &ec,
		Ingest:     &ic,
		KPI:        &kp,
		SLA:        &kp.SLA,
		Export:     &xc,
		MLLP:       &mc,
		HTTP:       &hc,
	}
}
