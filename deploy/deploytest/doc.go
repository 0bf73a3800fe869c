// Package deploytest holds only tests: they parse the deployment files
// (docker-compose.yml, Dockerfile, .dockerignore, deploy/compose and
// deploy/kubernetes) and check them against the code, so that a renamed flag,
// job, topic, user or dashboard cannot leave a broken deployment behind.
//
// Flags are checked against the real referralops binary (each command's
// --help, then the invocation itself with --help appended), rules and
// dashboards against the committed generated files, and Prometheus's config
// with promtool. Nothing here starts a container: no image can be pulled on
// the machines that run the tests.
//
// The Kubernetes PrometheusRule and Grafana ConfigMaps are generated, with
// the rules and dashboards, by `make generate` (package internal/generated,
// whose test fails when one is stale); the tests here check what they hold.
package deploytest
