package backup

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestCairnBackupRestore: "cairn kv backup" then "cairn kv restore" on a
// fresh server gives the same bucket; a second restore is refused
// unless --replace; --as restores under another name with every key.
func TestCairnBackupRestore(t *testing.T) {
	src := startServer(t)
	stream := fillBucket(t, src, "b")
	want := dumpStream(t, src, stream)
	file := filepath.Join(t.TempDir(), "b.backup")

	// Standard error is no terminal here: no progress bar.
	out, errOut, code := cairn(t, src, "kv", "backup", "b", file)
	if code != 0 || !strings.Contains(out, "Backed up bucket \"b\"") || errOut != "" {
		t.Fatalf("backup: exit %d, output %q, errors %q", code, out, errOut)
	}
	// No partial files beside it, and no overwrite of an existing file.
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Fatalf("files after backup: %v", entries)
	}
	if _, errOut, code := cairn(t, src, "kv", "backup", "b", file); code != 2 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("backup over an existing file: exit %d %q", code, errOut)
	}
	if _, errOut, code := cairn(t, src, "kv", "backup", "nope", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("backup of a missing bucket: exit %d %q", code, errOut)
	}

	dst := startServer(t)
	out = mustRun(t, cairnCLI(t), "--server", dst.url, "--json", "kv", "restore", file)
	var res struct {
		Bucket   string `json:"bucket"`
		Revision uint64 `json:"revision"`
		Messages uint64 `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Bucket != "b" || res.Revision != want.State.LastSeq || res.Messages != want.State.Msgs {
		t.Fatalf("restore output %q: %v", out, err)
	}
	sameStream(t, dumpStream(t, dst, stream), want, "", "")

	// An existing bucket is not replaced unless asked.
	kv, err := dst.js.KeyValue(ctxT(t), "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctxT(t), "newer", "x"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cairn(t, dst, "kv", "restore", file); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("restore over an existing bucket: exit %d %q", code, errOut)
	}
	if _, err := kv.Get(ctxT(t), "newer"); err != nil {
		t.Fatalf("the refused restore changed the bucket: %v", err)
	}
	mustRun(t, cairnCLI(t), "--server", dst.url, "kv", "restore", file, "--replace")
	sameStream(t, dumpStream(t, dst, stream), want, "", "")

	// Under another name: subjects, keys and revisions move along.
	mustRun(t, cairnCLI(t), "--server", dst.url, "kv", "restore", file, "--as", "copy")
	got := dumpStream(t, dst, "KV_copy")
	sameStream(t, got, want, "$KV.b.", "$KV.copy.")
	if got.Config.Name != "KV_copy" || len(got.Config.Subjects) != 1 || got.Config.Subjects[0] != "$KV.copy.>" {
		t.Fatalf("renamed config: %s %v", got.Config.Name, got.Config.Subjects)
	}
	if k, w := keys(t, dst, "copy"), keys(t, src, "b"); !mapsEqual(k, w) {
		t.Fatalf("renamed keys %v, want %v", k, w)
	}
	if _, errOut, code := cairn(t, dst, "kv", "restore", file, "--as", "bad.name"); code != 1 || !strings.Contains(errOut, "invalid bucket name") {
		t.Fatalf("restore as an invalid name: exit %d %q", code, errOut)
	}
}

// TestCairnRestoreDamagedFile: a cut or changed backup file is refused
// with a clear message, and no bucket is created.
func TestCairnRestoreDamagedFile(t *testing.T) {
	src := startServer(t)
	fillBucket(t, src, "b")
	file := filepath.Join(t.TempDir(), "b.backup")
	mustRun(t, cairnCLI(t), "--server", src.url, "kv", "backup", "b", file)
	good := mustRead(t, file)
	raw := readArchive(t, file)
	dst := startServer(t)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"cut in half", good[:len(good)/2], "bad backup file"},
		{"cut before the trailer", recompress(t, raw[:len(raw)-49]), "truncated"},
		{"one byte changed", flipByte(good, len(good)/2), "damaged"},
		{"value changed, compression intact", recompress(t, flipByte(raw, strings.Index(string(raw), "nested"))), "checksum mismatch"},
		{"not a backup", []byte("hello"), "bad backup file"},
		{"empty", nil, "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.backup")
			if err := os.WriteFile(bad, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := cairn(t, dst, "kv", "restore", bad)
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want 1 and %q in %q", code, c.want, errOut)
			}
			if names := streamNames(t, dst); len(names) != 0 {
				t.Fatalf("streams after a refused restore: %v", names)
			}
		})
	}
	if _, errOut, code := cairn(t, dst, "kv", "restore", filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("restore of a missing file: exit %d %q", code, errOut)
	}
}

// TestRestoreKeepsTTLState: a key with a per-message TTL restored
// before its deadline still expires at it, while the other keys stay.
func TestRestoreKeepsTTLState(t *testing.T) {
	src := startServer(t)
	ctx := ctxT(t)
	kv, err := src.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t", History: 1, LimitMarkerTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "stays", "1"); err != nil {
		t.Fatal(err)
	}
	const ttl = 3 * time.Second
	written := time.Now()
	if _, err := kv.Create(ctx, "goes", []byte("2"), jetstream.KeyTTL(ttl)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "t.backup")
	mustRun(t, cairnCLI(t), "--server", src.url, "kv", "backup", "t", file)
	dst := startServer(t)
	mustRun(t, cairnCLI(t), "--server", dst.url, "kv", "restore", file)
	rkv, err := dst.js.KeyValue(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	_, getErr := rkv.Get(ctx, "goes")
	if time.Since(written) < ttl-time.Second && getErr != nil {
		t.Fatalf("the TTL key is missing right after the restore: %v", getErr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := rkv.Get(ctx, "goes"); err == jetstream.ErrKeyNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restored key with a %s TTL still exists %s after it was written", ttl, time.Since(written).Round(time.Second))
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	if time.Since(written) < ttl {
		t.Fatalf("the restored key expired %s after it was written, before its TTL of %s", time.Since(written), ttl)
	}
	if e, err := rkv.Get(ctx, "stays"); err != nil || string(e.Value()) != "1" {
		t.Fatalf("the key without TTL: %v", err)
	}
}
