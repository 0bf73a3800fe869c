// Package chdb runs SQL on chDB, the ClickHouse engine as a shared library
// (libchdb.so), so tests can prove the project's SQL on current ClickHouse beside
// the old 18.16 server.
//
// It binds the same C API that github.com/chdb-io/chdb-go v1.11.0 uses
// (chdb_connect, chdb_query, ...) through purego, but loads the library lazily:
// chdb-go opens libchdb.so in an init function and panics when it is missing,
// which would crash every binary and test that merely imports it. Here a missing
// library is the error ErrNoLibrary, which tests turn into a skip or a failure.
//
// libchdb holds one engine per process, so there is at most one open Session at
// a time; its queries are serialized.
package chdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ErrNoLibrary means libchdb.so could not be found or loaded.
var ErrNoLibrary = errors.New("chdb: libchdb.so not loadable (run deploy/local/chdb.sh)")

// ErrSessionOpen means a Session is already open in this process.
var ErrSessionOpen = errors.New("chdb: a session is already open in this process")

// DefaultLibraryPath is where deploy/local/chdb.sh installs the library.
const DefaultLibraryPath = "/usr/local/lib/libchdb.so"

// LibraryPath is the library that Load opens: $CHDB_LIB_PATH, else DefaultLibraryPath.
func LibraryPath() string {
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		return p
	}
	return DefaultLibraryPath
}

// result is chdb.h's opaque chdb_result.
type result struct{ _ unsafe.Pointer }

var (
	loadOnce sync.Once
	loadErr  error

	// chdb.h: typedef struct chdb_connection_ {...} * chdb_connection;
	// chdb_connect returns a chdb_connection*, chdb_query takes the chdb_connection.
	chdbConnect            func(argc int32, argv []*byte) *unsafe.Pointer
	chdbCloseConn          func(conn *unsafe.Pointer)
	chdbQuery              func(conn unsafe.Pointer, query, format string) *result
	chdbDestroyQueryResult func(res *result)
	chdbResultBuffer       func(res *result) *byte
	chdbResultLength       func(res *result) uintptr
	chdbResultError        func(res *result) string
)

// Load opens libchdb.so once. It reports ErrNoLibrary (wrapped) if that fails.
func Load() error {
	loadOnce.Do(func() {
		path := LibraryPath()
		if _, err := os.Stat(path); err != nil {
			loadErr = fmt.Errorf("%w: %v", ErrNoLibrary, err)
			return
		}
		lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			loadErr = fmt.Errorf("%w: %s: %v", ErrNoLibrary, path, err)
			return
		}
		defer func() {
			// RegisterLibFunc panics on a missing symbol: an incompatible library.
			if r := recover(); r != nil {
				loadErr = fmt.Errorf("%w: %s: %v", ErrNoLibrary, path, r)
			}
		}()
		purego.RegisterLibFunc(&chdbConnect, lib, "chdb_connect")
		purego.RegisterLibFunc(&chdbCloseConn, lib, "chdb_close_conn")
		purego.RegisterLibFunc(&chdbQuery, lib, "chdb_query")
		purego.RegisterLibFunc(&chdbDestroyQueryResult, lib, "chdb_destroy_query_result")
		purego.RegisterLibFunc(&chdbResultBuffer, lib, "chdb_result_buffer")
		purego.RegisterLibFunc(&chdbResultLength, lib, "chdb_result_length")
		purego.RegisterLibFunc(&chdbResultError, lib, "chdb_result_error")
	})
	return loadErr
}

var (
	openMu sync.Mutex
	isOpen bool
)

// Session is the process's chDB engine, keeping its databases under a directory.
type Session struct {
	mu   sync.Mutex
	conn *unsafe.Pointer
	path string
}

// Open starts the engine with its data under dir (created if missing).
func Open(dir string) (*Session, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	openMu.Lock()
	defer openMu.Unlock()
	if isOpen {
		return nil, ErrSessionOpen
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chdb: data directory: %w", err)
	}
	args := []string{"clickhouse", "--path=" + dir}
	argv := make([]*byte, len(args))
	for i, a := range args {
		b := append([]byte(a), 0)
		argv[i] = &b[0]
	}
	conn := chdbConnect(int32(len(argv)), argv)
	if conn == nil || *conn == nil {
		return nil, fmt.Errorf("chdb: could not start the engine in %s", dir)
	}
	isOpen = true
	return &Session{conn: conn, path: dir}, nil
}

// Path is the session's data directory.
func (s *Session) Path() string { return s.path }

// Query runs one statement and returns its output in the given ClickHouse format
// (e.g. "TSV", "JSONEachRow"). The engine cannot be interrupted, so ctx is only
// checked before the statement starts.
func (s *Session) Query(ctx context.Context, query, format string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil, errors.New("chdb: session closed")
	}
	res := chdbQuery(*s.conn, query, format)
	if res == nil {
		return nil, nil
	}
	defer chdbDestroyQueryResult(res)
	if msg := chdbResultError(res); msg != "" {
		return nil, errors.New(msg)
	}
	n := chdbResultLength(res)
	buf := chdbResultBuffer(res)
	if n == 0 || buf == nil {
		return nil, nil
	}
	return append([]byte(nil), unsafe.Slice(buf, n)...), nil
}

// Close stops the engine; the data directory stays.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	chdbCloseConn(s.conn)
	s.conn = nil
	openMu.Lock()
	isOpen = false
	openMu.Unlock()
	return nil
}
