package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestNatsStreamBackupRestore: "nats stream backup" of a bucket on one
// server and "nats stream restore" on a fresh one give the same
// messages (sequences, times, headers with the per-message TTLs),
// state and configuration, and the restored bucket goes on from the
// same revision.
func TestNatsStreamBackupRestore(t *testing.T) {
	src := startServer(t)
	stream := fillBucket(t, src, "b")
	want := dumpStream(t, src, stream)
	dir := filepath.Join(t.TempDir(), "backup")

	// With natscli's progress bar (the default), which decodes the s2
	// stream while it arrives.
	out, errOut, code := natsCLI(t, src, "stream", "backup", stream, dir)
	if code != 0 || !strings.Contains(out, "uncompressed") {
		t.Fatalf("nats stream backup: exit %d\n%s%s", code, out, errOut)
	}
	var meta struct {
		Config struct {
			Name string `json:"name"`
		} `json:"config"`
		State struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
	}
	js, err := os.ReadFile(filepath.Join(dir, "backup.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &meta); err != nil || meta.Config.Name != stream || meta.State.LastSeq != want.State.LastSeq {
		t.Fatalf("backup.json: %v %+v", err, meta)
	}

	dst := startServer(t)
	out, errOut, code = natsCLI(t, dst, "stream", "restore", "--no-progress", dir)
	if code != 0 {
		t.Fatalf("nats stream restore: exit %d\n%s%s", code, out, errOut)
	}
	got := dumpStream(t, dst, stream)
	sameStream(t, got, want, "", "")
	if !hasTTLHeader(got) {
		t.Fatal("no restored message carries its Nats-TTL header")
	}
	if k, w := keys(t, dst, "b"), keys(t, src, "b"); !mapsEqual(k, w) {
		t.Fatalf("keys %v, want %v", k, w)
	}
	// The restored bucket continues the revisions.
	kv, err := dst.js.KeyValue(ctxT(t), "b")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.PutString(ctxT(t), "after", "x")
	if err != nil || rev != want.State.LastSeq+1 {
		t.Fatalf("put after restore: revision %d, %v; want %d", rev, err, want.State.LastSeq+1)
	}

	// Restoring over an existing stream is refused: natscli checks
	// first, and the server refuses as nats-server does.
	out, errOut, code = natsCLI(t, dst, "stream", "restore", "--no-progress", dir)
	if code == 0 || !strings.Contains(out+errOut, "already exist") {
		t.Fatalf("restore over an existing stream: exit %d\n%s%s", code, out, errOut)
	}
	req, _ := json.Marshal(map[string]any{"config": json.RawMessage(mustConfigJSON(t, dir)), "state": map[string]any{}})
	msg, err := dst.nc.Request("$JS.API.STREAM.RESTORE."+stream, req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), `"err_code":10130`) || !strings.Contains(string(msg.Data), "stream name already in use, cannot restore") {
		t.Fatalf("restore request over an existing stream: %s", msg.Data)
	}
}

// TestNatsStreamBackupEmptyAndMissing: an empty bucket round-trips, and
// a missing stream gives nats-server's error.
func TestNatsStreamBackupEmptyAndMissing(t *testing.T) {
	src := startServer(t)
	if _, err := src.js.CreateKeyValue(ctxT(t), kvConfig("empty")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	if out, errOut, code := natsCLI(t, src, "stream", "backup", "--no-progress", "KV_empty", dir); code != 0 {
		t.Fatalf("backup of an empty bucket: exit %d\n%s%s", code, out, errOut)
	}
	dst := startServer(t)
	if out, errOut, code := natsCLI(t, dst, "stream", "restore", "--no-progress", dir); code != 0 {
		t.Fatalf("restore of an empty bucket: exit %d\n%s%s", code, out, errOut)
	}
	sameStream(t, dumpStream(t, dst, "KV_empty"), dumpStream(t, src, "KV_empty"), "", "")

	out, errOut, code := natsCLI(t, src, "stream", "backup", "--no-progress", "KV_none", filepath.Join(t.TempDir(), "x"))
	if code == 0 || !strings.Contains(out+errOut, "stream not found") {
		t.Fatalf("backup of a missing stream: exit %d\n%s%s", code, out, errOut)
	}
}

// TestNatsRestoreDamagedArchive: natscli sends whatever the directory
// holds; the server refuses a damaged or cut archive with 10062 and no
// stream is left.
func TestNatsRestoreDamagedArchive(t *testing.T) {
	src := startServer(t)
	stream := fillBucket(t, src, "b")
	dir := filepath.Join(t.TempDir(), "backup")
	if out, errOut, code := natsCLI(t, src, "stream", "backup", "--no-progress", stream, dir); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	archive := archivePath(t, dir)
	raw := readArchive(t, archive)
	cases := []struct {
		name string
		data []byte // the new archive file
		want string
	}{
		{"byte flipped in the compressed file", flipByte(mustRead(t, archive), 200), "damaged"},
		{"compressed file cut short", mustRead(t, archive)[:len(mustRead(t, archive))/2], "restore failed"},
		{"value changed, framing valid", recompress(t, flipByte(raw, bytes.Index(raw, []byte("expires in an hour")))), "checksum mismatch"},
		{"record length changed, framing valid", recompress(t, flipByte(raw, len(raw)/2)), "archive corrupt"},
		{"trailer missing, framing valid", recompress(t, raw[:len(raw)-49]), "truncated"},
		{"data after the trailer", recompress(t, append(append([]byte{}, raw...), 'x')), "data after its trailer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := startServer(t)
			bad := filepath.Join(t.TempDir(), "bad")
			if err := os.MkdirAll(bad, 0o755); err != nil {
				t.Fatal(err)
			}
			copyFile(t, filepath.Join(dir, "backup.json"), filepath.Join(bad, "backup.json"))
			if err := os.WriteFile(filepath.Join(bad, filepath.Base(archive)), c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := natsCLI(t, dst, "stream", "restore", "--no-progress", bad)
			if code == 0 || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("restore: exit %d, want an error with %q\n%s%s", code, c.want, out, errOut)
			}
			if names := streamNames(t, dst); len(names) != 0 {
				t.Fatalf("streams left after a failed restore: %v", names)
			}
		})
	}
}

func hasTTLHeader(d dump) bool {
	for _, m := range d.Msgs {
		if len(m.Header["Nats-TTL"]) > 0 {
			return true
		}
	}
	return false
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// mustConfigJSON returns the config object of a backup directory's
// backup.json.
func mustConfigJSON(t *testing.T, dir string) []byte {
	t.Helper()
	var meta struct {
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "backup.json")), &meta); err != nil {
		t.Fatal(err)
	}
	return meta.Config
}

// TestLargeBucketSmallWindow: a bucket of a few MB of incompressible
// values goes through many chunks with natscli's smallest window, and
// through the cairn CLI, and restores identical both ways.
func TestLargeBucketSmallWindow(t *testing.T) {
	src := startServer(t)
	ctx := ctxT(t)
	kv, err := src.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "big", History: 2})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 2048)
	for i := range 1500 {
		_, _ = rand.Read(value)
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i%1000), value); err != nil {
			t.Fatal(err)
		}
	}
	want := dumpStream(t, src, "KV_big")

	dir := filepath.Join(t.TempDir(), "backup")
	if out, errOut, code := natsCLI(t, src, "stream", "backup", "--no-progress", "--chunk-size", "16KiB", "--window-size", "64KiB", "KV_big", dir); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	if st, err := os.Stat(archivePath(t, dir)); err != nil || st.Size() < 2<<20 {
		t.Fatalf("archive: %v %v", st, err)
	}
	dst := startServer(t)
	if out, errOut, code := natsCLI(t, dst, "stream", "restore", "--no-progress", dir); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	sameStream(t, dumpStream(t, dst, "KV_big"), want, "", "")

	file := filepath.Join(t.TempDir(), "big.backup")
	mustRun(t, cairnCLI(t), "--server", src.url, "kv", "backup", "big", file)
	mustRun(t, cairnCLI(t), "--server", dst.url, "kv", "restore", file, "--as", "big2")
	sameStream(t, dumpStream(t, dst, "KV_big2"), want, "$KV.big.", "$KV.big2.")
}

// TestNatsPlainStreamBackupRestore: a stream that is not a bucket, with
// headers, a deleted message and message ids, round-trips too, and the
// restored stream still knows the ids within its duplicate window.
func TestNatsPlainStreamBackupRestore(t *testing.T) {
	src := startServer(t)
	ctx := ctxT(t)
	str, err := src.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Duplicates: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		m := nats.NewMsg(fmt.Sprintf("orders.%d", i%5))
		m.Header.Set("Order", fmt.Sprint(i))
		m.Data = []byte(fmt.Sprintf("order %d", i))
		if _, err := src.js.PublishMsg(ctx, m, jetstream.WithMsgID(fmt.Sprintf("id-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := str.DeleteMsg(ctx, 10); err != nil {
		t.Fatal(err)
	}
	want := dumpStream(t, src, "ORDERS")
	dir := filepath.Join(t.TempDir(), "backup")
	if out, errOut, code := natsCLI(t, src, "stream", "backup", "--no-progress", "ORDERS", dir); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	dst := startServer(t)
	if out, errOut, code := natsCLI(t, dst, "stream", "restore", "--no-progress", dir); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	sameStream(t, dumpStream(t, dst, "ORDERS"), want, "", "")
	ack, err := dst.js.Publish(ctx, "orders.1", []byte("again"), jetstream.WithMsgID("id-49"))
	if err != nil || !ack.Duplicate || ack.Sequence != 50 {
		t.Fatalf("publish of a restored msg id: %+v %v", ack, err)
	}
}
