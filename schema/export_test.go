package schema

// ExecOnce is Migrate's statement runner, for tests that re-run a
// migration's statements the way Migrate does after a crash.
var ExecOnce = execOnce
