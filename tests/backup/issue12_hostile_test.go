package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestCairnBackupKeepsFileCreatedMeanwhile: "cairn kv backup" refuses to
// overwrite an existing file, and that holds for a file that appears
// while the backup runs (another backup job to the same name): the
// backup fails and the other file is left as it was. It checked for the
// file before the backup and then renamed over whatever was there.
func TestCairnBackupKeepsFileCreatedMeanwhile(t *testing.T) {
	s := startServer(t)
	ctx := ctxT(t)
	kv, err := s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "big"})
	if err != nil {
		t.Fatal(err)
	}
	// 24 MiB that do not compress: the backup takes a while.
	value := make([]byte, 512<<10)
	for i := range 48 {
		_, _ = rand.Read(value)
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	dest := filepath.Join(dir, "big.backup")
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, cairnCLI(t), "--server", s.url, "--timeout", "10s", "kv", "backup", "big", dest)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once the backup has started receiving (its partial file exists),
	// another job writes the destination.
	deadline := time.Now().Add(30 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(dir, ".big.backup.partial-*"))
		if len(names) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backup never started")
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	const other = "another job's backup\n"
	if err := os.WriteFile(dest, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	got, rerr := os.ReadFile(dest)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if string(got) != other {
		t.Fatalf("the backup (%v: %s) replaced the file created while it ran (%d bytes now)", err, out.String(), len(got))
	}
	if err == nil || !strings.Contains(out.String(), "already exists") {
		t.Fatalf("backup over a file created meanwhile: %v: %s", err, out.String())
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".big.backup.partial-*")); len(names) > 0 {
		t.Fatalf("partial files left: %v", names)
	}
}
