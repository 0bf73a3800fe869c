// Package generated renders every committed generated file of the
// repository from the code that defines it: the Grafana dashboards and
// provisioning (package dashboards), the Prometheus rules (dashboards/rules),
// their Kubernetes copies under deploy/kubernetes, and the README's
// generated regions (the KPI metrics reference of package metrics).
//
// It is the one generation path: `make generate` (or `go generate ./...`)
// runs cmd/generate, which writes what Render makes, and a test of this
// package fails naming each committed file that differs. It does not decide
// what the files say; the packages it calls do.
package generated

//go:generate go run ./cmd/generate -root ../..
