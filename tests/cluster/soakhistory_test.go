package cluster

// The histories bench/run-r3soak records (-history FILE: one JSON line
// per operation) are checked for linearizability with the same
// porcupine model as TestR3Linearizable. The test checks a sample kept
// in testdata (the first 1,500 operations of a 100-kill soak) and, when
// CAIRN_R3_HISTORY names a file, that whole history:
//
//	bench/run-r3soak -kills 100 -partitions 20 -history /tmp/h.jsonl
//	CAIRN_R3_HISTORY=/tmp/h.jsonl go test -run TestR3SoakHistory -timeout 0 ./tests/cluster

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// soakOp is one line of a soak history (bench/r3soak/workload.go).
type soakOp struct {
	Client  int    `json:"client"`
	Op      string `json:"op"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	Expect  uint64 `json:"expect"`
	Rev     uint64 `json:"rev"`
	Deleted bool   `json:"deleted"`
	Start   int64  `json:"start"`
	End     int64  `json:"end"`
	Outcome string `json:"outcome"`
	Err     string `json:"err"`
}

// soakHistory reads a soak history into a kvHistory; operations that
// provably reached no server (no responders) are left out.
func soakHistory(t *testing.T, path string) *kvHistory {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := newKVHistory()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	ops := map[string]kvOp{"get": opGet, "put": opPut, "create": opCreate, "update": opUpdate, "delete": opDelete}
	for line := 1; sc.Scan(); line++ {
		var o soakOp
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		op, ok := ops[o.Op]
		if !ok {
			t.Fatalf("%s:%d: operation %q", path, line, o.Op)
		}
		in := kvInput{op: op, key: o.Key, rev: o.Expect}
		if op != opGet {
			in.value = o.Value
		}
		var out kvOutput
		switch {
		case o.Outcome == "ok" && op == opGet && o.Deleted:
			out.status = stNotFound
		case o.Outcome == "ok":
			out = kvOutput{status: stOK, value: o.Value, rev: o.Rev}
			if op != opGet {
				out.value = ""
			}
		case o.Outcome == "fail" && (strings.Contains(o.Err, "wrong last sequence") || strings.Contains(o.Err, "key exists") || strings.Contains(o.Err, "revision mismatch")):
			out.status = stConflict
		case o.Outcome == "fail" && (strings.Contains(o.Err, "no responders") || strings.Contains(o.Err, "no response from stream")):
			continue // reached no stream leader
		default:
			out.status = stUnknown
		}
		h.add(o.Client, in, o.Start, out, o.End)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestR3SoakHistory(t *testing.T) {
	t.Parallel()
	paths := []string{"testdata/r3soak-sample.jsonl"}
	if p := os.Getenv("CAIRN_R3_HISTORY"); p != "" {
		paths = append(paths, p)
	}
	for _, p := range paths {
		h := soakHistory(t, p)
		timeout := time.Minute
		if p != paths[0] {
			timeout = time.Duration(math.MaxInt64)
		}
		res, _ := h.check(timeout, false)
		t.Logf("%s: %s: %v", p, h.summary(), res)
		if res != porcupine.Ok {
			t.Errorf("%s: not linearizable (%v); keys: %v", p, res, h.illegalKeys(time.Minute))
		}
	}
}
