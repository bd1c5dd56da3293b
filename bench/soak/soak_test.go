package main

import (
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSoakShort is the CI version of the soak: 5 kill -9 cycles under
// --sync_interval always and 3 under the default policy, nothing lost.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills servers")
	}
	bin := filepath.Join(t.TempDir(), "cairn-server")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/cairn-server").CombinedOutput(); err != nil {
		t.Fatalf("building cairn-server: %v\n%s", err, out)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (replay: bench/run-soak -short -seed %d)", seed, seed)
	results, err := soak(bin, 5, 3, 4, seed, io.Discard)
	for _, r := range results {
		t.Log(r)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Lost > 0 || r.SeenLost > 0 {
			t.Errorf("%s", r)
		}
	}
}
