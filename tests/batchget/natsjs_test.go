package batchget

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNatsJS runs testdata/natsjs.mjs (nats.js getBatch and
// getLastMessagesFor) against both servers, filled alike, and requires
// the same output. The npm packages are those tests/js installs
// (scripts/test runs npm ci there); the script runs from a temporary
// directory that links to them.
func TestNatsJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js (scripts/test needs it for the JavaScript client tests)")
	}
	modules, err := filepath.Abs("../js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "@nats-io", "jetstream")); err != nil {
		t.Fatalf("%s missing: run scripts/test, or npm ci in tests/js", modules)
	}
	script, err := os.ReadFile("testdata/natsjs.mjs")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "natsjs.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	tr := compare(t, bothSides(t), func(t *testing.T, s *side) []string {
		fillStream(t, s)
		fillHistory(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "natsjs.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "BATCHGET_URL="+s.nc.ConnectedUrl())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: node natsjs.mjs: %v\n%s", s.name, err, out)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	})
	for _, want := range []string{
		`s.a@1 "1" pending=6 last=0`,
		`$KV.h.k2@7 "b" pending=0 last=6`,
	} {
		if !containsLine(tr, want) {
			t.Errorf("no line %q in\n%s", want, join(tr))
		}
	}
}
