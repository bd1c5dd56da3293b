package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

func TestLogTextFormat(t *testing.T) {
	pid := os.Getpid()
	tests := []struct {
		name string
		cfg  server.LogConfig
		re   string
	}{
		{"logtime", server.LogConfig{}, fmt.Sprintf(`^\[%d\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[INF\] hello 7\n$`, pid)},
		{"no logtime", server.LogConfig{NoTime: true}, fmt.Sprintf(`^\[%d\] \[INF\] hello 7\n$`, pid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			l, err := server.OpenLogger(tt.cfg, &out)
			if err != nil {
				t.Fatal(err)
			}
			l.Noticef("hello %d", 7)
			if !regexp.MustCompile(tt.re).MatchString(out.String()) {
				t.Fatalf("line %q does not match %s", out.String(), tt.re)
			}
		})
	}
}

func TestLogLevels(t *testing.T) {
	var out bytes.Buffer
	l, err := server.OpenLogger(server.LogConfig{NoTime: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	l.Debugf("d1")
	l.Tracef("t1")
	l.Warnf("w")
	l.Errorf("e")
	if err := l.Configure(server.LogConfig{NoTime: true, Debug: true, Trace: true}); err != nil {
		t.Fatal(err)
	}
	l.Debugf("d2")
	l.Tracef("t2")
	got := out.String()
	for _, want := range []string{"[WRN] w\n", "[ERR] e\n", "[DBG] d2\n", "[TRC] t2\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "d1") || strings.Contains(got, "t1") {
		t.Errorf("debug or trace line written while off:\n%s", got)
	}
}

func TestLogJSON(t *testing.T) {
	var out bytes.Buffer
	l, err := server.OpenLogger(server.LogConfig{JSON: true, UTC: true, Debug: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	l.Noticef("quote \" and newline \n in %s", "msg")
	l.Warnf("w")
	l.Errorf("e")
	l.Debugf("d")
	if err := l.Configure(server.LogConfig{JSON: true, NoTime: true}); err != nil {
		t.Fatal(err)
	}
	l.Noticef("untimed")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), out.String())
	}
	wantLevels := []string{"info", "warn", "error", "debug", "info"}
	for i, line := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if e["level"] != wantLevels[i] || e["pid"] != float64(os.Getpid()) {
			t.Errorf("line %d %v: want level %s and the pid", i, e, wantLevels[i])
		}
		ts, hasTime := e["time"].(string)
		if i == 4 {
			if hasTime {
				t.Errorf("time %q with NoTime", ts)
			}
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasSuffix(ts, "Z") || time.Since(at) > time.Minute {
			t.Errorf("time %q (%v): want a recent RFC 3339 UTC time", ts, err)
		}
	}
	var first struct{ Msg string }
	_ = json.Unmarshal([]byte(lines[0]), &first)
	if first.Msg != "quote \" and newline \n in msg" {
		t.Errorf("msg %q", first.Msg)
	}
}

// logLines returns the numbered test lines ("line NNNNN") found in the
// files matching dir/base*, oldest file first, and the number of files.
func logLines(t *testing.T, dir, base string) ([]int, int) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, base+"*"))
	if err != nil {
		t.Fatal(err)
	}
	// Backups sort by their time stamp; the current file is newest.
	sort.Slice(names, func(i, j int) bool {
		if names[i] == filepath.Join(dir, base) || names[j] == filepath.Join(dir, base) {
			return names[j] == filepath.Join(dir, base)
		}
		return names[i] < names[j]
	})
	var nums []int
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var k int
			if i := strings.Index(line, "line "); i >= 0 {
				if _, err := fmt.Sscanf(line[i:], "line %d", &k); err == nil {
					nums = append(nums, k)
				}
			}
		}
	}
	return nums, len(names)
}

func TestLogRotationKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cairn.log")
	l, err := server.OpenLogger(server.LogConfig{File: path, SizeLimit: 2000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 1000
	for i := 0; i < n; i++ {
		l.Noticef("line %05d", i)
	}
	nums, files := logLines(t, dir, "cairn.log")
	if files < 10 {
		t.Fatalf("%d files: the log was not rotated", files)
	}
	if len(nums) != n {
		t.Fatalf("%d lines in %d files, want %d", len(nums), files, n)
	}
	for i, k := range nums {
		if k != i {
			t.Fatalf("line %d is %d: lines lost or out of order", i, k)
		}
	}
	// Each file holds about the limit, and the new one starts with
	// the backup's name.
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cur), "[INF] Rotated log, backup saved as \""+path+".") {
		t.Errorf("current file lacks the rotation line:\n%s", cur)
	}
	backups, _ := filepath.Glob(path + ".*")
	for _, b := range backups {
		if st, err := os.Stat(b); err != nil || st.Size() > 2000+200 {
			t.Errorf("backup %s: %v bytes, limit 2000", b, st.Size())
		}
	}
}

func TestLogRotationMaxFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cairn.log")
	l, err := server.OpenLogger(server.LogConfig{File: path, SizeLimit: 1000, MaxFiles: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 2000
	for i := 0; i < n; i++ {
		l.Noticef("line %05d", i)
		if i%100 == 0 {
			if _, files := logLines(t, dir, "cairn.log"); files > 3 {
				t.Fatalf("%d files after line %d, max 3", files, i)
			}
		}
	}
	nums, files := logLines(t, dir, "cairn.log")
	if files != 3 {
		t.Fatalf("%d files, want 3", files)
	}
	// What is kept is the newest lines, without a gap.
	if len(nums) == 0 || nums[len(nums)-1] != n-1 {
		t.Fatalf("kept lines %v: want them to end with %d", nums, n-1)
	}
	for i := 1; i < len(nums); i++ {
		if nums[i] != nums[i-1]+1 {
			t.Fatalf("gap between %d and %d", nums[i-1], nums[i])
		}
	}
	if cur, _ := os.ReadFile(path); !strings.Contains(string(cur), "Purged log file") && !strings.Contains(string(cur), "Rotated log") {
		t.Errorf("current file:\n%s", cur)
	}
}

func TestLogReopenAndConfigure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	l, err := server.OpenLogger(server.LogConfig{File: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Noticef("first")
	// An external logrotate renames the file, then asks for a reopen.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Noticef("second") // still the renamed file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Noticef("third")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "first") || !strings.Contains(string(old), "second") || strings.Contains(string(old), "third") {
		t.Errorf("renamed file:\n%s", old)
	}
	if !strings.Contains(string(cur), "File log re-opened") || !strings.Contains(string(cur), "third") {
		t.Errorf("reopened file:\n%s", cur)
	}
	// A file that cannot be opened is an error and changes nothing.
	bad := filepath.Join(dir, "no", "such", "dir.log")
	if err := l.Configure(server.LogConfig{File: bad}); err == nil {
		t.Fatal("Configure with an unopenable file succeeded")
	}
	l.Noticef("fourth")
	if cur, _ := os.ReadFile(path); !strings.Contains(string(cur), "fourth") {
		t.Errorf("after a failed Configure the line went elsewhere:\n%s", cur)
	}
	// Another file: lines go there.
	other := filepath.Join(dir, "b.log")
	if err := l.Configure(server.LogConfig{File: other, JSON: true}); err != nil {
		t.Fatal(err)
	}
	l.Noticef("fifth")
	if b, _ := os.ReadFile(other); !strings.Contains(string(b), `"msg":"fifth"`) {
		t.Errorf("b.log:\n%s", b)
	}
}

func TestLogAttrs(t *testing.T) {
	var out bytes.Buffer
	l, err := server.OpenLogger(server.LogConfig{NoTime: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	l.Log(server.LevelWarn, "compaction slow", server.Attr{Key: "dir", Value: "/d"}, server.Attr{Key: "took", Value: "2s"})
	l.Log(server.LevelDebug, "hidden")
	l.Log(server.Level(99), "odd level")
	if got, want := out.String(), fmt.Sprintf("[%d] [WRN] compaction slow dir=/d took=2s\n[%d] [ERR] odd level\n", os.Getpid(), os.Getpid()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	out.Reset()
	if err := l.Configure(server.LogConfig{JSON: true, NoTime: true}); err != nil {
		t.Fatal(err)
	}
	l.Log(server.LevelInfo, "opened", server.Attr{Key: "dir", Value: "/d \"q\""})
	var e struct {
		Level, Msg string
		Attrs      map[string]string
	}
	if err := json.Unmarshal(out.Bytes(), &e); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if e.Level != "info" || e.Msg != "opened" || e.Attrs["dir"] != "/d \"q\"" {
		t.Errorf("%+v", e)
	}
}
