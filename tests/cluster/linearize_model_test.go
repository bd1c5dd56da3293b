package cluster

// Tests of the KV linearizability model (linearize_test.go) on
// hand-written histories, linearizable and not; no server involved.
// Each operation is [call, return] in abstract time units; "inf" is an
// operation whose outcome is unknown (a timeout).

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
)

// hop is one operation of a hand-written history.
type hop struct {
	client    int
	call, ret int64
	in        kvInput
	out       kvOutput
}

const inf = math.MaxInt64

func get(k string) kvInput                 { return kvInput{op: opGet, key: k} }
func put(k, v string) kvInput              { return kvInput{op: opPut, key: k, value: v} }
func create(k, v string) kvInput           { return kvInput{op: opCreate, key: k, value: v} }
func update(k, v string, e uint64) kvInput { return kvInput{op: opUpdate, key: k, value: v, rev: e} }
func del(k string, e uint64) kvInput       { return kvInput{op: opDelete, key: k, rev: e} }

func ok(rev uint64) kvOutput             { return kvOutput{status: stOK, rev: rev} }
func read(v string, rev uint64) kvOutput { return kvOutput{status: stOK, value: v, rev: rev} }

var (
	notFound = kvOutput{status: stNotFound}
	conflict = kvOutput{status: stConflict}
	unknown  = kvOutput{status: stUnknown}
)

func TestKVModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool // linearizable
		ops  []hop
	}{
		{"sequential put get", true, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 3, get("a"), read("x", 1)},
		}},
		{"stale read after an acknowledged put", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 3, put("a", "y"), ok(2)},
			{1, 4, 5, get("a"), read("x", 1)},
		}},
		{"concurrent read may see either", true, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 6, put("a", "y"), ok(2)},
			{1, 3, 4, get("a"), read("x", 1)},
			{2, 5, 7, get("a"), read("y", 2)},
		}},
		{"read goes back in time", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 10, put("a", "y"), ok(2)},
			{1, 3, 4, get("a"), read("y", 2)},
			{2, 5, 6, get("a"), read("x", 1)},
		}},
		{"revisions of one key decrease", false, []hop{
			{0, 0, 1, put("a", "x"), ok(5)},
			{0, 2, 3, put("a", "y"), ok(4)},
		}},
		{"other keys' revisions interleave", true, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{1, 0, 1, put("b", "u"), ok(2)},
			{0, 2, 3, put("a", "y"), ok(3)},
			{1, 4, 5, get("b"), read("u", 2)},
			{1, 4, 5, get("a"), read("y", 3)},
		}},
		{"two creates both succeed", false, []hop{
			{0, 0, 2, create("l", "c0"), ok(1)},
			{1, 1, 3, create("l", "c1"), ok(2)},
		}},
		{"create after delete", true, []hop{
			{0, 0, 1, create("l", "c0"), ok(1)},
			{0, 2, 3, del("l", 1), ok(0)},
			{1, 4, 5, create("l", "c1"), ok(3)},
			{1, 6, 7, get("l"), read("c1", 3)},
		}},
		{"create on a live key", false, []hop{
			{0, 0, 1, create("l", "c0"), ok(1)},
			{1, 2, 3, create("l", "c1"), ok(2)},
		}},
		{"create fails on a fresh key", false, []hop{
			{0, 0, 1, create("l", "c0"), conflict},
		}},
		{"create fails after a delete (nats.go's two steps)", true, []hop{
			{0, 0, 1, put("l", "x"), ok(1)},
			{0, 2, 3, del("l", 0), ok(0)},
			{1, 4, 5, create("l", "c1"), conflict},
		}},
		{"update at the right revision refused (nats-server's 10164)", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{1, 2, 3, update("a", "y", 1), conflict},
			{1, 4, 5, get("a"), read("x", 1)},
		}},
		{"update at the right revision refused while a write is in flight", true, []hop{
			// The concurrent put may come first: the refusal is fine.
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 6, put("a", "z"), ok(2)},
			{1, 3, 4, update("a", "y", 1), conflict},
		}},
		{"update at a stale revision succeeds", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 3, put("a", "y"), ok(2)},
			{1, 4, 5, update("a", "z", 1), ok(3)},
		}},
		{"lost update: two updates at one revision", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{1, 2, 5, update("a", "y", 1), ok(2)},
			{2, 2, 5, update("a", "z", 1), ok(3)},
		}},
		{"timed-out put seen later", true, []hop{
			{0, 0, inf, put("a", "x"), unknown},
			{1, 5, 6, get("a"), read("x", 7)},
			{1, 7, 8, update("a", "y", 7), ok(8)},
		}},
		{"timed-out put never seen", true, []hop{
			{0, 0, inf, put("a", "x"), unknown},
			{1, 5, 6, get("a"), notFound},
		}},
		{"timed-out put seen, then gone without a write", false, []hop{
			{0, 0, inf, put("a", "x"), unknown},
			{1, 5, 6, get("a"), read("x", 7)},
			{1, 7, 8, get("a"), notFound},
		}},
		{"timed-out update may have been applied", true, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{1, 2, inf, update("a", "y", 1), unknown},
			{2, 5, 6, get("a"), read("y", 4)},
		}},
		{"timed-out update at a stale revision cannot apply", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 3, put("a", "w"), ok(2)},
			{1, 4, inf, update("a", "y", 1), unknown},
			{2, 5, 6, get("a"), read("y", 4)},
		}},
		{"delete then read", true, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 3, del("a", 0), ok(0)},
			{1, 4, 5, get("a"), notFound},
			{1, 6, 7, put("a", "y"), ok(5)},
		}},
		{"read a deleted value", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 3, del("a", 1), ok(0)},
			{1, 4, 5, get("a"), read("x", 1)},
		}},
		{"conditional delete at a stale revision succeeds", false, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{0, 2, 3, put("a", "y"), ok(2)},
			{1, 4, 5, del("a", 1), ok(0)},
		}},
		{"conditional delete refused at the right revision", false, []hop{
			{0, 0, 1, create("a", "x"), ok(1)},
			{1, 2, 3, del("a", 1), conflict},
		}},
		{"timed-out delete may have been applied", true, []hop{
			{0, 0, 1, put("a", "x"), ok(1)},
			{1, 2, inf, del("a", 1), unknown},
			{2, 4, 5, get("a"), notFound},
			{2, 6, 7, create("a", "z"), ok(9)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newKVHistory()
			for _, o := range tc.ops {
				h.add(o.client, o.in, o.call, o.out, o.ret)
			}
			res, _ := h.check(0, false)
			if got := res == porcupine.Ok; got != tc.want {
				t.Fatalf("porcupine says %s, want linearizable=%v", res, tc.want)
			}
		})
	}
}

// TestKVModelUnknownPut: an operation whose outcome is unknown is
// recorded with an infinite return time and only when it is a write.
func TestKVModelUnknownPut(t *testing.T) {
	h := newKVHistory()
	h.add(0, put("a", "x"), 1, unknown, 2)
	h.add(0, get("a"), 3, unknown, 4)
	if len(h.ops) != 1 || h.ops[0].Return != math.MaxInt64 {
		t.Fatalf("history %+v: want the put alone, returning at infinity", h.ops)
	}
}
