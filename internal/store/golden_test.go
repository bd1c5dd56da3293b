package store

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("store.update", false, "rewrite the golden files in testdata/golden")

// TestGolden replays the operation scripts in testdata/golden against
// both implementations and compares the output with the file. Each case
// is a command line, "----", the expected output, then a blank line.
// Regenerate with: go test ./internal/store -run TestGolden -store.update
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, kind := range []StorageType{MemoryStorage, FileStorage} {
		for _, path := range files {
			t.Run(kind.String()+"/"+filepath.Base(path), func(t *testing.T) {
				h := &harness{t: t, kind: kind, clock: NewManualClock(epoch)}
				// Expiry runs only on "advance", for a deterministic trace.
				h.opts = Options{Clock: h.clock, manualExpiry: true}
				if kind == FileStorage {
					h.dir = t.TempDir()
				}
				h.open()
				defer func() { h.st.Close() }()
				runGolden(t, h, path)
			})
		}
	}
}

type goldenCase struct{ cmd, want string }

func readGolden(t *testing.T, path string) []goldenCase {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	var cur *goldenCase
	inOut := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
		case cur == nil:
			cases = append(cases, goldenCase{cmd: line})
			cur, inOut = &cases[len(cases)-1], false
		case line == "----":
			inOut = true
		case line == "":
			cur = nil
		case inOut:
			cur.want += line + "\n"
		}
	}
	return cases
}

func runGolden(t *testing.T, h *harness, path string) {
	cases := readGolden(t, path)
	var s Stream
	var out strings.Builder
	for i := range cases {
		c := &cases[i]
		got := goldenRun(t, h, &s, c.cmd)
		if *updateGolden {
			c.want = got
		} else if got != c.want {
			t.Errorf("%s: %s\n got:\n%s want:\n%s", path, c.cmd, got, c.want)
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n", c.cmd, c.want)
	}
	if *updateGolden && h.kind == FileStorage {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goldenArgs parses "cmd k=v k=v" (values may not hold spaces).
func goldenArgs(cmd string) (string, map[string]string) {
	fields := strings.Fields(cmd)
	args := map[string]string{}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	return fields[0], args
}

func goldenRun(t *testing.T, h *harness, s *Stream, cmd string) string {
	name, a := goldenArgs(cmd)
	num := func(k string) uint64 { n, _ := strconv.ParseUint(a[k], 10, 64); return n }
	dur := func(k string) time.Duration { d, _ := time.ParseDuration(a[k]); return d }
	switch name {
	case "create":
		cfg := Config{Name: "KV_g", MaxMsgsPerSubject: int64(num("history")), MaxMsgs: int64(num("max-msgs")),
			MaxBytes: int64(num("max-bytes")), MaxAge: dur("max-age"), MaxMsgSize: int32(num("max-msg-size")),
			DuplicateWindow: dur("dedup"), AllowMsgTTL: a["ttl"] == "on", SubjectDeleteMarkerTTL: dur("markers")}
		if a["discard"] == "new" {
			cfg.Discard = DiscardNew
			cfg.DiscardNewPerSubject = a["per-subject"] == "on"
		}
		*s = h.create(cfg)
		return "ok\n"
	case "append":
		var o AppendOpts
		if _, ok := a["expect-last"]; ok {
			o.HasExpectedLastSeq, o.ExpectedLastSeq = true, num("expect-last")
		}
		if _, ok := a["expect-subj"]; ok {
			o.HasExpectedLastSubjSeq, o.ExpectedLastSubjSeq = true, num("expect-subj")
		}
		o.MsgID, o.TTL = a["id"], dur("ttl")
		o.Rollup = map[string]Rollup{"sub": RollupSubject, "all": RollupAll}[a["rollup"]]
		var hdr []byte
		if a["op"] != "" {
			hdr = []byte("NATS/1.0\r\nKV-Operation: " + a["op"] + "\r\n\r\n")
		}
		r, err := (*s).Append(a["subject"], hdr, []byte(a["data"]), o)
		if err != nil {
			return "error: " + errKind(err) + "\n"
		}
		return fmt.Sprintf("seq=%d dup=%v\n", r.Seq, r.Duplicate)
	case "get":
		return goldenMsg((*s).Get(num("seq")))
	case "last":
		return goldenMsg((*s).GetLast(a["subject"]))
	case "next":
		return goldenMsg((*s).GetNext(a["filter"], num("start")))
	case "lps":
		var b strings.Builder
		err := (*s).LastPerSubject(a["filter"], func(m *Msg) bool { b.WriteString(goldenMsg(m, nil)); return true })
		if err != nil {
			return "error: " + errKind(err) + "\n"
		}
		return b.String()
	case "delete":
		if err := (*s).Delete(num("seq")); err != nil {
			return "error: " + errKind(err) + "\n"
		}
		return "ok\n"
	case "purge":
		n, err := (*s).Purge(PurgeOpts{Subject: a["subject"], Seq: num("seq"), Keep: num("keep")})
		if err != nil {
			return "error: " + errKind(err) + "\n"
		}
		return fmt.Sprintf("purged=%d\n", n)
	case "advance":
		h.clock.Advance(dur("by"))
		(*s).(*stream).expire(h.clock.Now().UnixNano())
		return "ok\n"
	case "restart":
		if h.kind == FileStorage {
			h.reopen()
			*s, _ = h.st.Stream("KV_g")
		}
		return "ok\n"
	case "state":
		st := (*s).State()
		var b strings.Builder
		fmt.Fprintf(&b, "msgs=%d first=%d last=%d subjects=%d deleted=%d\n", st.Msgs, st.FirstSeq, st.LastSeq, st.NumSubjects, st.NumDeleted)
		counts := (*s).SubjectsState("")
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %d\n", k, counts[k])
		}
		return b.String()
	}
	t.Fatalf("unknown command %q", cmd)
	return ""
}

func goldenMsg(m *Msg, err error) string {
	if err != nil {
		return "error: " + errKind(err) + "\n"
	}
	op := ""
	if v := headerValue(m.Header, "KV-Operation"); v != nil {
		op = " op=" + string(v)
	}
	if v := headerValue(m.Header, "Nats-Marker-Reason"); v != nil {
		op += " marker=" + string(v) + " marker-ttl=" + string(headerValue(m.Header, "Nats-TTL"))
	}
	return fmt.Sprintf("%d %s %q%s\n", m.Seq, m.Subject, m.Data, op)
}
