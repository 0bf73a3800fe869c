package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/referralops once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "referralops-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "referralops")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/referralops")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FreeAddr returns a loopback address with a port that was free just now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Process is a referralops subcommand running as its own process, its output
// kept in a file that is printed if the test fails.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// Start runs `referralops args...` with extra environment variables.
func Start(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), "proc-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{t: t, cmd: cmd, log: logFile.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		// SIGTERM first: a process killed mid-query can leave ClickHouse
		// 18.16 holding locks that the test database's DROP then waits for.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(cleanupGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out, _ := os.ReadFile(p.log)
			t.Logf("output of referralops %v:\n%s", args, tail(out, 8000))
		}
	})
	return p
}

// StartExport runs `referralops export` listening on addr (a free loopback
// address when empty) with JSON logs, extra environment variables and args,
// and waits until it is ready: it has served its first snapshot. It returns
// the process and its base URL.
func StartExport(t testing.TB, addr string, env []string, args ...string) (*Process, string) {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	p := Start(t, env, append([]string{"export", "--listen", addr, "--log-format", "json"}, args...)...)
	base := "http://" + addr
	WaitReady(t, p, base, "exporter")
	return p, base
}

// Stopwatch returns a function that logs what with the seconds since
// Stopwatch was called: the steps of a long test, to see where time goes.
func Stopwatch(t testing.TB) func(what string) {
	start := time.Now()
	return func(what string) {
		t.Helper()
		t.Logf("%6.1fs %s", time.Since(start).Seconds(), what)
	}
}

// cleanupGrace is how long a process still running when its test ends gets to
// exit on SIGTERM before it is killed.
const cleanupGrace = 15 * time.Second

// WaitReady polls base+"/readyz" until it answers 200, failing the test if the
// process exits first; what names the process in the failure.
func WaitReady(t testing.TB, p *Process, base, what string) {
	t.Helper()
	Eventually(t, 90*time.Second, func() bool {
		return HTTPStatus(base+"/readyz") == http.StatusOK || p.Exited()
	}, func() string { return "the " + what + " is not ready:\n" + p.Output() })
	if p.Exited() {
		t.Fatalf("the %s exited:\n%s", what, p.Output())
	}
}

// Kill sends SIGKILL and waits for the process to die.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and returns the exit code, failing the test if the process
// is still running after timeout.
func (p *Process) Stop(timeout time.Duration) int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("process did not exit within %s of SIGTERM", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output is what the process printed so far.
func (p *Process) Output() string {
	out, _ := os.ReadFile(p.log)
	return string(out)
}

// HTTPStatus returns the status code of GET url, or 0 if it does not answer.
func HTTPStatus(url string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Eventually polls cond every interval until it is true, failing the test with
// what() at the deadline.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	i := bytes.IndexByte(b[len(b)-n:], '\n')
	return b[len(b)-n+i+1:]
}
