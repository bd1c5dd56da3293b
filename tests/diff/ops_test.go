package diff

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// kind is a KV operation the generator can produce.
type kind int

const (
	opPut kind = iota
	opGet
	opGetRevision
	opCreate
	opUpdate
	opDelete
	opDeleteLastRev
	opPurge
	opStatus
	opStreamState
	opBadKey
	opPublishMsgID
	opPublishExpectLast
	opUpdateBucket
	opPurgeStream
	opRecreateBucket
	opRestart
	numKinds
)

var kindNames = [...]string{"put", "get", "get-revision", "create", "update", "delete",
	"delete-last-revision", "purge", "status", "stream-state", "put-invalid-key",
	"publish-msg-id", "publish-expect-last-seq", "update-bucket", "purge-stream", "recreate-bucket", "restart"}

// weights make writes and reads common and whole-bucket checks rarer.
var weights = [numKinds]int{8, 6, 3, 4, 4, 2, 2, 1, 1, 1, 1, 2, 2, 1, 1, 1, 0}

// op is one generated operation; it holds everything needed to replay it
// identically on both servers.
type op struct {
	kind   kind
	bucket int
	key    string
	value  []byte
	rev    uint64
}

func (o op) String() string {
	s := fmt.Sprintf("%s %s %s", kindNames[o.kind], buckets[o.bucket].Bucket, o.key)
	switch o.kind {
	case opPut, opCreate, opUpdate, opBadKey:
		s += fmt.Sprintf(" len=%d", len(o.value))
	}
	if o.rev != 0 || o.kind == opUpdate || o.kind == opDeleteLastRev {
		s += " rev=" + strconv.FormatUint(o.rev, 10)
	}
	return s
}

// generator produces random operations. It remembers the revisions the
// peer returned for each key so that revision arguments are often right
// and sometimes stale, rather than almost always wrong.
type generator struct {
	rng  *rand.Rand
	revs map[string][]uint64 // bucket/key → revisions seen, oldest first
	last uint64              // highest revision seen in any bucket
	// restarts enables opRestart and keeps operations off memory buckets,
	// which do not survive a restart.
	restarts bool
}

func (g *generator) next() op {
	o := op{kind: g.pickKind(), bucket: g.rng.IntN(len(buckets)), key: keys[g.rng.IntN(len(keys))]}
	if g.restarts {
		for buckets[o.bucket].Storage == jetstream.MemoryStorage {
			o.bucket = g.rng.IntN(len(buckets))
		}
	}
	switch o.kind {
	case opPut, opCreate, opUpdate, opBadKey, opPublishMsgID, opPublishExpectLast:
		o.value = g.value()
	}
	switch o.kind {
	case opGetRevision, opUpdate, opDeleteLastRev:
		o.rev = g.revision(o)
	case opPublishExpectLast:
		o.rev = max(g.last, 1) - uint64(g.rng.IntN(2))
	case opPublishMsgID, opUpdateBucket, opPurgeStream:
		// A small id pool makes duplicates within the window common; the
		// same number picks a history or a purge "keep".
		o.rev = uint64(1 + g.rng.IntN(5))
	case opBadKey:
		o.key = []string{"", ".x", "x.", "a..b", "sp ace", "st*r"}[g.rng.IntN(6)]
	}
	return o
}

func (g *generator) pickKind() kind {
	w := weights
	if g.restarts {
		w[opRestart] = 1
		// A restarted server remembers the message ids of the messages it
		// still holds only (nats-server rebuilds its window the same way),
		// so ids of removed messages would differ from a peer that kept
		// running.
		w[opPublishMsgID] = 0
	}
	total := 0
	for _, x := range w {
		total += x
	}
	n := g.rng.IntN(total)
	for k, w := range w {
		if n < w {
			return kind(k)
		}
		n -= w
	}
	return opGet
}

// value returns 0–64 random printable bytes; "small" caps values at 48.
func (g *generator) value() []byte {
	b := make([]byte, g.rng.IntN(65))
	for i := range b {
		b[i] = byte('!' + g.rng.IntN(94))
	}
	return b
}

// revision picks the key's latest known revision, an older one, zero, or
// an arbitrary one.
func (g *generator) revision(o op) uint64 {
	seen := g.revs[buckets[o.bucket].Bucket+"/"+o.key]
	switch r := g.rng.IntN(10); {
	case r < 5 && len(seen) > 0:
		return seen[len(seen)-1]
	case r < 7 && len(seen) > 1:
		return seen[g.rng.IntN(len(seen)-1)]
	case r < 8:
		return 0
	default:
		return uint64(g.rng.IntN(int(g.last) + 2))
	}
}

// observe records the revision a successful write produced.
func (g *generator) observe(o op, result string) {
	rev, ok := strings.CutPrefix(result, "rev=")
	if !ok {
		return
	}
	n, err := strconv.ParseUint(rev, 10, 64)
	if err != nil {
		return
	}
	k := buckets[o.bucket].Bucket + "/" + o.key
	g.revs[k] = append(g.revs[k], n)
	g.last = max(g.last, n)
}

// apply runs o on s and renders the result.
func (o op) apply(s *side) string {
	c, cancel := ctx()
	defer cancel()
	kv := s.kvs[o.bucket]
	switch o.kind {
	case opPut, opBadKey:
		return revOutcome(kv.Put(c, o.key, o.value))
	case opCreate:
		return revOutcome(kv.Create(c, o.key, o.value))
	case opUpdate:
		return revOutcome(kv.Update(c, o.key, o.value, o.rev))
	case opGet:
		return entryOutcome(kv.Get(c, o.key))
	case opGetRevision:
		return entryOutcome(kv.GetRevision(c, o.key, o.rev))
	case opDelete:
		return revOutcome(deleted(c, s, o, kv.Delete(c, o.key)))
	case opDeleteLastRev:
		return revOutcome(deleted(c, s, o, kv.Delete(c, o.key, jetstream.LastRevision(o.rev))))
	case opPurge:
		return revOutcome(deleted(c, s, o, kv.Purge(c, o.key)))
	case opStatus:
		st, err := kv.Status(c)
		if err != nil {
			return outcome("", err)
		}
		return fmt.Sprintf("values=%d bytes=%d history=%d", st.Values(), st.Bytes(), st.History())
	case opStreamState:
		return streamState(c, s, o)
	case opPublishMsgID:
		return ackOutcome(s.js.Publish(c, subjectOf(o), o.value, jetstream.WithMsgID(strconv.FormatUint(o.rev, 10))))
	case opPublishExpectLast:
		return ackOutcome(s.js.Publish(c, subjectOf(o), o.value, jetstream.WithExpectLastSequence(o.rev)))
	case opUpdateBucket:
		cfg := buckets[o.bucket]
		cfg.History = uint8(o.rev)
		kv, err := s.js.UpdateKeyValue(c, cfg)
		if err != nil {
			return outcome("", err)
		}
		s.kvs[o.bucket] = kv
		return streamState(c, s, o)
	case opPurgeStream:
		stream, err := s.js.Stream(c, "KV_"+buckets[o.bucket].Bucket)
		if err == nil {
			err = stream.Purge(c, jetstream.WithPurgeSubject(subjectOf(o)), jetstream.WithPurgeKeep(o.rev%3))
		}
		if err != nil {
			return outcome("", err)
		}
		return streamState(c, s, o)
	case opRecreateBucket:
		if err := s.js.DeleteKeyValue(c, buckets[o.bucket].Bucket); err != nil {
			return outcome("", err)
		}
		kv, err := s.js.CreateKeyValue(c, buckets[o.bucket])
		if err != nil {
			return outcome("", err)
		}
		s.kvs[o.bucket] = kv
		return streamState(c, s, o)
	}
	return "unknown op"
}

// deleted turns a Delete/Purge result into the revision of its marker,
// read back from the stream, so that markers are compared too.
func deleted(c context.Context, s *side, o op, err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	stream, err := s.js.Stream(c, "KV_"+buckets[o.bucket].Bucket)
	if err != nil {
		return 0, err
	}
	m, err := stream.GetLastMsgForSubject(c, "$KV."+buckets[o.bucket].Bucket+"."+o.key)
	if err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

func subjectOf(o op) string { return "$KV." + buckets[o.bucket].Bucket + "." + o.key }

func ackOutcome(ack *jetstream.PubAck, err error) string {
	if err != nil {
		return outcome("", err)
	}
	return fmt.Sprintf("rev=%d stream=%s duplicate=%v", ack.Sequence, ack.Stream, ack.Duplicate)
}

func revOutcome(rev uint64, err error) string {
	return outcome(fmt.Sprintf("rev=%d", rev), err)
}

func entryOutcome(e jetstream.KeyValueEntry, err error) string {
	if err != nil {
		return outcome("", err)
	}
	return fmt.Sprintf("key=%s rev=%d op=%s value=%q", e.Key(), e.Revision(), e.Operation(), e.Value())
}

// streamState compares the stream's counters.
func streamState(c context.Context, s *side, o op) string {
	stream, err := s.js.Stream(c, "KV_"+buckets[o.bucket].Bucket)
	if err != nil {
		return outcome("", err)
	}
	st := stream.CachedInfo().State
	return fmt.Sprintf("msgs=%d bytes=%d first=%d last=%d subjects=%d deleted=%d",
		st.Msgs, st.Bytes, st.FirstSeq, st.LastSeq, st.NumSubjects, st.NumDeleted)
}
