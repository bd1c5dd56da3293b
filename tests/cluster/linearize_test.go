package cluster

// A linearizability checker for histories of KV operations on one
// bucket (issue 15, point 6), built on porcupine. The model is the
// bucket as a client sees it, one key at a time (porcupine checks each
// key's partition on its own; revisions are stream sequences shared by
// all keys, so only their order within a key is modelled):
//
//	state of a key: present or not, its value, the revision of its last
//	write (0: never written), and whether that revision is known exactly
//	or only bounded from below (after a write whose revision the client
//	never learned: a delete, or a write that timed out).
//
//	get → value v at rev r: present, value v, rev r (or r > the bound)
//	get → not found:        not present
//	put v → rev r:          r > rev; present, v, rev r
//	create v → rev r:       not present; r > rev; present, v, rev r
//	create → "key exists":  rev ≠ 0 (nats.go's Create is a CAS at 0,
//	                        then, on a delete marker, a get and a CAS at
//	                        the marker's revision: its failure proves only
//	                        that the key had been written)
//	update v at e → rev r:  rev = e (or e > the bound); r > e;
//	                        present, v, rev r
//	update at e → wrong last sequence (10071 or 10164): rev ≠ e
//	delete [at e] → ok:     (rev = e); not present, revision unknown
//	delete at e → wrong last sequence: rev ≠ e
//
// An operation whose outcome is unknown (a timeout, a lost connection,
// an error that does not say whether the write was applied) may or may
// not have taken effect: a write is recorded with a return time of
// infinity and both next states (applied, not applied), so the checker
// may place it anywhere after its call, or nowhere visible; a read with
// an unknown outcome tells nothing and is left out. A request answered
// "no responders" reached no server and is left out too. Values are
// unique per write, so a read names the write it saw.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvOp is the kind of a KV operation.
type kvOp uint8

const (
	opGet kvOp = iota
	opPut
	opCreate
	opUpdate
	opDelete
)

func (o kvOp) String() string {
	return [...]string{"get", "put", "create", "update", "delete"}[o]
}

// kvInput is an operation as called: on key, writing value (put,
// create, update), expecting revision rev (update; delete when not 0).
type kvInput struct {
	op    kvOp
	key   string
	value string
	rev   uint64
}

// kvStatus is how an operation ended.
type kvStatus uint8

const (
	stOK       kvStatus = iota
	stNotFound          // get: no value (never written or deleted)
	stConflict          // wrong last sequence (update, delete) or key exists (create)
	stUnknown           // may or may not have taken effect
)

// kvOutput is an operation's outcome: for stOK, the revision returned
// (put, create, update) or read (get) and the value read (get).
type kvOutput struct {
	status kvStatus
	value  string
	rev    uint64
}

// kvState is one key's state in the model. When known is false, rev is
// an exclusive lower bound of the last write's revision.
type kvState struct {
	present bool
	value   string
	rev     uint64
	known   bool
}

// revIs reports whether the last write's revision may be r.
func (s kvState) revIs(r uint64) bool {
	if s.known {
		return s.rev == r
	}
	return r > s.rev
}

// revMayDiffer reports whether the last write's revision may differ
// from r.
func (s kvState) revMayDiffer(r uint64) bool { return !s.known || s.rev != r }

// kvStep returns the states a key may be in after in ended with out
// from state s; none when that outcome is impossible from s.
func kvStep(s kvState, in kvInput, out kvOutput) []kvState {
	written := func(rev uint64) kvState { return kvState{present: true, value: in.value, rev: rev, known: true} }
	// pending is the state after a write of unknown outcome that took
	// effect: its revision is only known to be above bound.
	pending := func(present bool, bound uint64) kvState {
		v := ""
		if present {
			v = in.value
		}
		return kvState{present: present, value: v, rev: bound, known: false}
	}
	none := []kvState(nil)
	switch in.op {
	case opGet:
		switch out.status {
		case stOK:
			if s.present && s.value == out.value && s.revIs(out.rev) {
				return []kvState{{present: true, value: out.value, rev: out.rev, known: true}}
			}
		case stNotFound:
			if !s.present {
				return []kvState{s}
			}
		}
		return none
	case opPut:
		switch out.status {
		case stOK:
			if out.rev > s.rev {
				return []kvState{written(out.rev)}
			}
		case stUnknown:
			return []kvState{s, pending(true, s.rev)}
		}
		return none
	case opCreate:
		switch out.status {
		case stOK:
			if !s.present && out.rev > s.rev {
				return []kvState{written(out.rev)}
			}
		case stConflict:
			if s.present || s.rev != 0 || !s.known {
				return []kvState{s}
			}
		case stUnknown:
			if !s.present {
				return []kvState{s, pending(true, s.rev)}
			}
			return []kvState{s}
		}
		return none
	case opUpdate, opDelete:
		conditional := in.op == opUpdate || in.rev != 0
		switch out.status {
		case stOK:
			if conditional && !s.revIs(in.rev) {
				return none
			}
			if in.op == opDelete {
				return []kvState{pending(false, max(s.rev, in.rev))}
			}
			if out.rev > in.rev {
				return []kvState{written(out.rev)}
			}
		case stConflict:
			if conditional && s.revMayDiffer(in.rev) {
				return []kvState{s}
			}
		case stUnknown:
			if conditional && !s.revIs(in.rev) {
				return []kvState{s}
			}
			return []kvState{s, pending(in.op == opUpdate, max(s.rev, in.rev))}
		}
		return none
	}
	return none
}

// kvModel is the porcupine model of a bucket, partitioned by key.
var kvModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{kvState{known: true}} },
	Step: func(state, input, output any) []any {
		var out []any
		for _, s := range kvStep(state.(kvState), input.(kvInput), output.(kvOutput)) {
			out = append(out, s)
		}
		return out
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		call := fmt.Sprintf("%s(%s", in.op, in.key)
		if in.value != "" {
			call += "," + in.value
		}
		if in.op == opUpdate || in.rev != 0 {
			call += fmt.Sprintf(",@%d", in.rev)
		}
		call += ")"
		switch out.status {
		case stOK:
			if in.op == opGet {
				return fmt.Sprintf("%s → %s@%d", call, out.value, out.rev)
			}
			if in.op == opDelete {
				return call + " → ok"
			}
			return fmt.Sprintf("%s → @%d", call, out.rev)
		case stNotFound:
			return call + " → not found"
		case stConflict:
			return call + " → conflict"
		}
		return call + " → ?"
	},
	DescribeState: func(state any) string {
		s := state.(kvState)
		rev := fmt.Sprintf("@%d", s.rev)
		if !s.known {
			rev = fmt.Sprintf("@>%d", s.rev)
		}
		if !s.present {
			return "absent" + rev
		}
		return s.value + rev
	},
}

// kvHistory records operations from concurrent clients with their call
// and return times (nanoseconds since the history began, one monotonic
// clock).
type kvHistory struct {
	base time.Time

	mu  sync.Mutex
	ops []porcupine.Operation
}

func newKVHistory() *kvHistory { return &kvHistory{base: time.Now()} }

// now is the time to give as an operation's call or return.
func (h *kvHistory) now() int64 { return time.Since(h.base).Nanoseconds() }

// add records an operation of client called at call and returned at
// ret with out. Unknown outcomes of writes are given a return time of
// infinity; reads with unknown outcomes are dropped.
func (h *kvHistory) add(client int, in kvInput, call int64, out kvOutput, ret int64) {
	h.addCode(client, in, call, out, ret, 0)
}

// addCode is add for an operation answered with a JetStream API error
// code (kept as the operation's metadata, for diagnosis).
func (h *kvHistory) addCode(client int, in kvInput, call int64, out kvOutput, ret int64, code int) {
	if out.status == stUnknown {
		if in.op == opGet {
			return
		}
		ret = math.MaxInt64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret, Metadata: code})
}

// outcome classifies a KV call's error. applied is false when the
// request provably reached no server (so the operation is to be left
// out of the history).
func outcome(err error) (status kvStatus, applied bool) {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return stOK, true
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return stNotFound, true
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return stConflict, true
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return stConflict, true
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return stUnknown, false
	}
	return stUnknown, true
}

// check runs porcupine on the history and reports its verdict and, for
// a history that is not linearizable when visualize is set, the path
// of an HTML visualization (in a new directory under os.TempDir that
// outlives the test).
func (h *kvHistory) check(timeout time.Duration, visualize bool) (porcupine.CheckResult, string) {
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	model := kvModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res != porcupine.Illegal || !visualize {
		return res, ""
	}
	dir, err := os.MkdirTemp("", "cairn-porcupine-")
	if err != nil {
		return res, fmt.Sprintf("(no visualization: %v)", err)
	}
	path := filepath.Join(dir, "history.html")
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return res, fmt.Sprintf("(no visualization: %v)", err)
	}
	return res, path
}

// errCode returns the JetStream API error code in err, or 0.
func errCode(err error) int {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return int(apiErr.ErrorCode)
	}
	return 0
}

// without returns a history of the operations for which drop is false.
func (h *kvHistory) without(drop func(op porcupine.Operation) bool) *kvHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := &kvHistory{base: h.base}
	for _, op := range h.ops {
		if !drop(op) {
			out.ops = append(out.ops, op)
		}
	}
	return out
}

// illegalKeys returns the keys whose operations alone are not
// linearizable.
func (h *kvHistory) illegalKeys(timeout time.Duration) []string {
	var bad []string
	for _, part := range kvModel.Partition(h.snapshot()) {
		if porcupine.CheckOperationsTimeout(kvModel.ToModel(), part, timeout) == porcupine.Illegal {
			bad = append(bad, part[0].Input.(kvInput).key)
		}
	}
	return bad
}

// snapshot returns the operations recorded so far.
func (h *kvHistory) snapshot() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ops
}

// summary counts the history's operations by kind and outcome.
func (h *kvHistory) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	counts := map[string]int{}
	for _, op := range h.ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		name := fmt.Sprintf("%s:%s", in.op, []string{"ok", "notfound", "conflict", "unknown"}[out.status])
		if code, _ := op.Metadata.(int); code != 0 {
			name += fmt.Sprint("/", code)
		}
		counts[name]++
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d ops (%s)", len(h.ops), strings.Join(parts, " "))
}
