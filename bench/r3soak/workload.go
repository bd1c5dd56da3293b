package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const bucket = "soak"

// event is one operation of the history file, one JSON object a line.
// Start and End are nanoseconds since the soak began (End is when the
// answer came, or the time-out). Outcome is "ok", "fail" (the server
// said no: the write did not happen) or "unknown" (time-out, lost
// connection: it may have happened).
type event struct {
	Client  int    `json:"client"`
	Node    string `json:"node"`
	Op      string `json:"op"` // put, create, update, delete (by revision), get
	Key     string `json:"key"`
	Value   string `json:"value,omitempty"`   // written, or read by a get
	Expect  uint64 `json:"expect,omitempty"`  // update/delete: the revision required
	Rev     uint64 `json:"rev,omitempty"`     // revision acknowledged or read
	Deleted bool   `json:"deleted,omitempty"` // get: key absent or deleted
	Start   int64  `json:"start"`             //
	End     int64  `json:"end"`               //
	Outcome string `json:"outcome"`           //
	Err     string `json:"err,omitempty"`     //
}

// history collects the events, writes each to the file as it completes
// and keeps the acknowledged writes for the final check.
type history struct {
	begin                     time.Time
	mu                        sync.Mutex
	w                         *bufio.Writer
	f                         *os.File
	acked                     []event // writes with outcome ok
	ops, errs, unknown, reads int
}

// current is the history being written, for the interrupt handler.
var current atomic.Pointer[history]

func newHistory(path string, begin time.Time) (*history, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &history{begin: begin, f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (h *history) add(e event) {
	b, _ := json.Marshal(e)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f != nil {
		h.w.Write(b)
		h.w.WriteByte('\n')
	}
	h.ops++
	switch {
	case e.Outcome == "ok" && e.Op == "get":
		h.reads++
	case e.Outcome == "ok":
		h.acked = append(h.acked, e)
	case e.Outcome == "unknown":
		h.unknown++
		h.errs++
	default:
		h.errs++
	}
}

func (h *history) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil // closed already
	}
	defer func() { h.f = nil }()
	if err := h.w.Flush(); err != nil {
		return err
	}
	return h.f.Close()
}

func (h *history) since(t time.Time) int64 { return t.Sub(h.begin).Nanoseconds() }

// client runs random KV operations against the bucket from one node
// until stop is closed: puts to k0…, creates of lock0… taken as locks
// (create, update by revision while held, delete by revision), updates
// by revision after a get, and gets. Every operation is bounded by
// opTimeout.
type client struct {
	id   int
	node string
	kv   jetstream.KeyValue
	js   jetstream.JetStream
	rng  *rand.Rand
	h    *history
	keys int
	seq  int
}

const opTimeout = time.Second

func (c *client) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		ok := true
		switch p := c.rng.IntN(100); {
		case p < 40:
			_, ok = c.write("put", c.key(), 0)
		case p < 55:
			ok = c.lock()
		case p < 80:
			key := c.key()
			if rev, found, ok2 := c.get(key); ok2 && found {
				_, ok = c.write("update", key, rev)
			} else {
				ok = ok2
			}
		default:
			_, _, ok = c.get(c.key())
		}
		if !ok {
			// Its node may be down or cut off: do not spin.
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (c *client) key() string { return fmt.Sprintf("k%d", c.rng.IntN(c.keys)) }

func (c *client) value() string {
	c.seq++
	return fmt.Sprintf("c%d-%d", c.id, c.seq)
}

// lock takes lock<j> by create, updates it by revision while held and
// releases it with a delete by revision.
func (c *client) lock() bool {
	key := fmt.Sprintf("lock%d", c.rng.IntN(4))
	rev, ok := c.write("create", key, 0)
	if !ok {
		return false
	}
	if rev, ok = c.write("update", key, rev); !ok {
		return false
	}
	_, ok = c.write("delete", key, rev)
	return ok
}

// write does one write and records it; it returns the revision and
// whether it was acknowledged.
func (c *client) write(op, key string, expect uint64) (uint64, bool) {
	e := event{Client: c.id, Node: c.node, Op: op, Key: key, Expect: expect}
	if op != "delete" {
		e.Value = c.value()
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	start := time.Now()
	var rev uint64
	var err error
	switch op {
	case "put":
		rev, err = c.kv.Put(ctx, key, []byte(e.Value))
	case "create":
		rev, err = c.kv.Create(ctx, key, []byte(e.Value))
	case "update":
		rev, err = c.kv.Update(ctx, key, []byte(e.Value), expect)
	case "delete":
		// kv.Delete does not return the marker's revision: publish the
		// marker as it does, to learn it.
		m := nats.NewMsg("$KV." + bucket + "." + key)
		m.Header.Set("KV-Operation", "DEL")
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, fmt.Sprint(expect))
		var ack *jetstream.PubAck
		if ack, err = c.js.PublishMsg(ctx, m); err == nil {
			rev = ack.Sequence
		}
	}
	e.Start, e.End = c.h.since(start), c.h.since(time.Now())
	e.Rev = rev
	e.Outcome = outcome(err)
	if err != nil {
		e.Err = err.Error()
	}
	c.h.add(e)
	return rev, err == nil
}

// get reads a key's latest revision and records it.
func (c *client) get(key string) (uint64, bool, bool) {
	e := event{Client: c.id, Node: c.node, Op: "get", Key: key}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	start := time.Now()
	entry, err := c.kv.Get(ctx, key)
	e.Start, e.End = c.h.since(start), c.h.since(time.Now())
	found := false
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		e.Deleted, err = true, nil
	case err == nil:
		found = true
		e.Rev, e.Value = entry.Revision(), string(entry.Value())
	}
	e.Outcome = outcome(err)
	if err != nil {
		e.Err = err.Error()
	}
	c.h.add(e)
	return e.Rev, found, err == nil
}

// outcome classifies an error: an API error (wrong last sequence, key
// exists, no responders…) means the write did not happen; anything else
// (time-out, connection lost) leaves it unknown.
func outcome(err error) string {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &apiErr), errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
		return "fail"
	default:
		return "unknown"
	}
}
