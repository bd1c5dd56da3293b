package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestParseLogFlags(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c := o.logConfig(); c.NoTime || c.UTC || c.JSON || c.File != "" || c.SizeLimit != 0 || c.MaxFiles != 0 {
		t.Errorf("defaults: %+v", c)
	}
	o, err = parseFlags([]string{"-T=false", "--logtime_utc", "--log_format", "JSON", "-l", "x.log",
		"--log_size_limit", "1000", "--log_max_num", "3", "-DV"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c := o.logConfig(); !c.NoTime || !c.UTC || !c.JSON || c.File != "x.log" || c.SizeLimit != 1000 || c.MaxFiles != 3 || !c.Debug || !c.Trace {
		t.Errorf("flags: %+v", c)
	}
	// The file's keys, with a flag over one of them.
	conf := writeConf(t, "logtime: false\nlogtime_utc: true\nlog_format: json\nlog_file: f.log\nlog_size_limit: 1KB\nlog_max_num: 4\n")
	o, err = parseFlags([]string{"-c", conf, "--logtime", "--log_format=text"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c := o.logConfig(); c.NoTime || !c.UTC || c.JSON || c.File != "f.log" || c.SizeLimit != 1024 || c.MaxFiles != 4 {
		t.Errorf("file and flags: %+v", c)
	}
	for _, args := range [][]string{{"-VV"}, {"-DVV"}} {
		o, err := parseFlags(args, &bytes.Buffer{})
		if err != nil || !o.cfg.Server.Trace || o.cfg.Server.Debug != (args[0] == "-DVV") {
			t.Errorf("%v: %v %+v", args, err, o)
		}
	}
	for _, bad := range [][]string{{"--log_format", "xml"}, {"--log_size_limit", "-1"}, {"--log_max_num", "-2"}, {"-T=maybe"}} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestLogFileFormatsAndReload runs cairn-server logging JSON lines
// without the time to a file, then reloads (SIGHUP) a config that
// switches to text lines with the time, and reopens the file (SIGUSR1)
// after it was moved away, as logrotate does.
func TestLogFileFormatsAndReload(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "cairn.log")
	conf := filepath.Join(dir, "cairn.conf")
	if err := os.WriteFile(conf, []byte("log_file: \""+logFile+"\"\nlog_format: json\nlogtime: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, logFile, "-sd", filepath.Join(dir, "data"), "-c", conf)
	if s := p.out.String(); s != "" {
		t.Errorf("standard error not empty with a log file: %q", s)
	}
	// Server is ready comes right after the listening line.
	waitFor(t, func() bool { return strings.Contains(p.log(logFile), `"msg":"Server is ready"`) }, "ready line")
	text, _ := os.ReadFile(logFile)
	// Complete lines only: the server may be writing the next one.
	lines := strings.Split(string(text[:bytes.LastIndexByte(text, '\n')]), "\n")
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		if _, ok := e["time"]; ok || e["level"] == nil || e["msg"] == nil {
			t.Fatalf("line %q: want level and msg, no time", l)
		}
	}

	if err := os.WriteFile(conf, []byte("log_file: \""+logFile+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGHUP)
	textLine := regexp.MustCompile(`(?m)^\[\d+\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[INF\] Reloaded server configuration`)
	waitFor(t, func() bool { return textLine.MatchString(p.log(logFile)) }, "a text line with the time after the reload")

	if err := os.Rename(logFile, logFile+".old"); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGUSR1)
	waitFor(t, func() bool { return strings.Contains(p.log(logFile), "[INF] File log re-opened") }, "the reopened file")
	if old, _ := os.ReadFile(logFile + ".old"); !strings.Contains(string(old), `[INF] Trapped "user defined signal 1" signal`) {
		t.Errorf("moved file lacks the signal line:\n%s", old)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(p.log(logFile), "Server Exiting..") {
		t.Errorf("log:\n%s", p.log(logFile))
	}
}

// TestLogRotationFlags: with --log_size_limit and --log_max_num the
// server's own log (traced connections) is rotated and at most that many
// files are kept.
func TestLogRotationFlags(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "cairn.log")
	p := startProc(t, logFile, "-sd", filepath.Join(dir, "data"), "-l", logFile, "-DV",
		"--log_size_limit", "4000", "--log_max_num", "3")
	for i := 0; i < 30; i++ {
		nc, err := nats.Connect(p.URL, nats.NoReconnect())
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("x", []byte("y")); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		if files, _ := filepath.Glob(logFile + "*"); len(files) > 3 {
			t.Fatalf("%d log files, max 3: %v", len(files), files)
		}
	}
	waitFor(t, func() bool { return strings.Contains(p.log(logFile), "Purged log file") }, "a purge")
	files, _ := filepath.Glob(logFile + "*")
	if len(files) != 3 {
		t.Errorf("%d log files, want 3: %v", len(files), files)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() > 4000+4096 {
			t.Errorf("%s: %d bytes over a 4000 byte limit (%v)", f, st.Size(), err)
		}
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogFileCannotOpen: a log file in a missing directory is a clear
// error at start and exit 1, before anything is listening.
func TestLogFileCannotOpen(t *testing.T) {
	var out bytes.Buffer
	bad := filepath.Join(t.TempDir(), "missing", "cairn.log")
	if code := run([]string{"-p", "-1", "-sd", t.TempDir(), "-l", bad}, &out); code != 1 ||
		!strings.Contains(out.String(), "cannot open log file") || !strings.Contains(out.String(), bad) {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
}
