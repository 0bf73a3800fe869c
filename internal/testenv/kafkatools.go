package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DeleteRecords deletes the records of topic's partitions below the given
// offsets (partition → offset) with the broker's own tool
// (kafka-delete-records): the log start offset moves there at once, as
// retention would move it later.
func DeleteRecords(t testing.TB, brokers []string, topic string, before map[int]int64) {
	t.Helper()
	type partition struct {
		Topic     string `json:"topic"`
		Partition int    `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	spec := struct {
		Partitions []partition `json:"partitions"`
		Version    int         `json:"version"`
	}{Version: 1}
	for p, off := range before {
		spec.Partitions = append(spec.Partitions, partition{topic, p, off})
	}
	if len(spec.Partitions) == 0 {
		return
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "delete-records.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kafkaLibs()); err != nil {
		unavailable(t, "the Apache Kafka jars", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		unavailable(t, "java", err)
	}
	out, err := kafkaJava("-Xmx256m", "org.apache.kafka.tools.DeleteRecordsCommand",
		"--bootstrap-server", strings.Join(brokers, ","), "--offset-json-file", file).CombinedOutput()
	if err != nil || strings.Contains(string(out), "error") {
		t.Fatalf("kafka DeleteRecordsCommand %s: %v\n%s", b, err, out)
	}
}
