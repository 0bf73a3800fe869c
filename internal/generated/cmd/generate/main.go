// Command generate rewrites every committed generated file of the
// repository (package generated): `make generate` runs it from the
// repository root, `go generate ./...` from internal/generated.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/referralops/referralops/internal/generated"
)

func main() {
	root := flag.String("root", ".", "the repository root (the directory holding go.mod)")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	// A wrong root would write a second tree of deploy/ files somewhere else.
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("-root %s is not the repository root: %w", root, err)
	}
	set, err := generated.Render(root)
	if err != nil {
		return err
	}
	changed, err := set.Write(root)
	for _, p := range changed {
		fmt.Println("wrote", p)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d generated files, %d changed\n", len(set.Files), len(changed))
	return nil
}
