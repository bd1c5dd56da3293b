package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// load reads the format marker, the stream records and tails, and
// rebuilds every file stream's index from its messages in one ordered
// scan. Anything inconsistent is reported as a CorruptError naming the
// stream.
func (st *Store) load() error {
	if err := st.checkFormat(); err != nil {
		return err
	}
	if v, ok, err := st.getValue(keyNextID); err != nil {
		return err
	} else if ok {
		if len(v) != 4 {
			return corruptf("", nil, "next stream id record of %d bytes", len(v))
		}
		st.mu.nextID = binary.BigEndian.Uint32(v)
	}
	byID := make(map[uint32]*stream)
	err := st.scan([]byte{spaceStream}, []byte{spaceStream + 1}, func(k, v []byte) error {
		name := string(k[1:])
		rec, err := decodeStreamRecord(name, v)
		if err != nil {
			return err
		}
		if rec.ID >= st.mu.nextID || byID[rec.ID] != nil {
			return corruptf(name, nil, "stream id %d is not unique or beyond the next id %d", rec.ID, st.mu.nextID)
		}
		s := newStream(st, rec.Config, rec.Meta, &pebbleBackend{st: st, id: rec.ID, name: name})
		byID[rec.ID] = s
		st.mu.streams[name] = s
		return nil
	})
	if err != nil {
		return err
	}
	err = st.scan([]byte{spaceTail}, []byte{spaceTail + 1}, func(k, v []byte) error {
		if len(k) != 5 {
			return corruptf("", nil, "malformed tail key %x", k)
		}
		s := byID[binary.BigEndian.Uint32(k[1:])]
		if s == nil {
			return corruptf("", nil, "tail record for unknown stream id %d", binary.BigEndian.Uint32(k[1:]))
		}
		seq, t, err := decodeTail(v)
		if err != nil {
			return corruptf(s.name, err, "tail record")
		}
		s.lastSeq, s.lastTime = seq, t
		return nil
	})
	if err != nil {
		return err
	}
	// Size hints from the last Close; ignored if implausible.
	err = st.scan([]byte{spaceHint}, []byte{spaceHint + 1}, func(k, v []byte) error {
		if len(k) == 5 && len(v) >= 16 {
			msgs, subjects := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
			if s := byID[binary.BigEndian.Uint32(k[1:])]; s != nil && msgs < 1<<32 && subjects <= msgs {
				s.ix.presize(int(msgs+msgs/8), int(subjects))
				s.ix.wideHints = parseWideHints(v[16:], subjects)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = st.scan([]byte{spaceApplied}, []byte{spaceApplied + 1}, func(k, v []byte) error {
		if len(k) != 5 || len(v) != 8 {
			return corruptf("", nil, "malformed applied record %x", k)
		}
		s := byID[binary.BigEndian.Uint32(k[1:])]
		if s == nil {
			return corruptf("", nil, "applied record for unknown stream id %d", binary.BigEndian.Uint32(k[1:]))
		}
		s.applied = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return err
	}
	ids := make(map[*stream][]dedupPut)
	err = st.scan([]byte{spaceDedup}, []byte{spaceDedup + 1}, func(k, v []byte) error {
		if len(k) < 5 || len(v) != 16 {
			return corruptf("", nil, "malformed duplicate window record %x", k)
		}
		s := byID[binary.BigEndian.Uint32(k[1:])]
		if s == nil || !s.driven {
			return corruptf("", nil, "duplicate window record for stream id %d, not a driven stream", binary.BigEndian.Uint32(k[1:]))
		}
		ids[s] = append(ids[s], dedupPut{id: string(k[5:]), seq: binary.BigEndian.Uint64(v), time: int64(binary.BigEndian.Uint64(v[8:]))})
		return nil
	})
	if err != nil {
		return err
	}
	for s, list := range ids {
		s.loadDedup(list)
	}
	err = st.loadMessages(byID)
	for _, s := range byID {
		s.ix.wideHints = nil
	}
	return err
}

func (st *Store) checkFormat() error {
	v, ok, err := st.getValue(keyFormat)
	if err != nil {
		return err
	}
	if ok {
		if string(v) != formatMagic {
			return corruptf("", nil, "format marker %q, want %q (not a cairn store, or a newer version)", v, formatMagic)
		}
		return nil
	}
	// No marker: only a brand-new, empty database may get one.
	it, err := st.db.NewIter(nil)
	if err != nil {
		return err
	}
	empty := !it.First()
	it.Close()
	if !empty {
		return corruptf("", nil, "database in %s has data but no format marker", st.dir)
	}
	return st.db.Set(keyFormat, []byte(formatMagic), pebble.Sync)
}

func (st *Store) getValue(k []byte) ([]byte, bool, error) {
	v, closer, err := st.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, st.readErr(err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

func (st *Store) readErr(err error) error {
	if pebble.IsCorruptionError(err) {
		return corruptf("", err, "reading %s", st.dir)
	}
	return fmt.Errorf("store: reading %s: %w", st.dir, err)
}

// scan calls fn for every key in [lo, hi).
func (st *Store) scan(lo, hi []byte, fn func(k, v []byte) error) error {
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return st.readErr(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return st.readErr(err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return st.readErr(err)
	}
	return nil
}

// loadMessages scans every message key once and indexes it. Reading
// and decoding the messages (Pebble's iteration, about a third of the
// work) and indexing them run in two goroutines, handing over batches
// of loadBatchLen messages, so an open uses two cores where it has them.
func (st *Store) loadMessages(byID map[uint32]*stream) error {
	now := st.clock.Now().UnixNano()
	full := make(chan *loadBatch, loadBatches-1)
	free := make(chan *loadBatch, loadBatches)
	for range loadBatches {
		free <- &loadBatch{items: make([]loadItem, 0, loadBatchLen)}
	}
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		for b := range full {
			b.index(now)
			free <- b
		}
	}()
	b := <-free
	var cur *stream
	var curID uint32
	err := st.scan([]byte{spaceMsg}, []byte{spaceMsg + 1}, func(k, v []byte) error {
		id, seq, ok := parseMsgKey(k)
		if !ok {
			return corruptf("", nil, "malformed message key %x", k)
		}
		if cur == nil || id != curID {
			cur, curID = byID[id], id
			if cur == nil {
				return corruptf("", nil, "message %d of unknown stream id %d", seq, id)
			}
		}
		r, err := decodeRecord(v)
		if err != nil {
			return corruptf(cur.name, err, "message %d", seq)
		}
		b.add(cur, cur.recovered(seq, r), r)
		if len(b.items) == loadBatchLen {
			full <- b
			b = <-free
		}
		return nil
	})
	if err == nil && len(b.items) > 0 {
		full <- b
	}
	close(full)
	<-indexed
	return err
}

// loadBatches batches of loadBatchLen messages circulate between the
// two goroutines of loadMessages.
const (
	loadBatches  = 4
	loadBatchLen = 512
)

// loadBatch is messages read and decoded, not yet indexed; their
// subjects and message ids are copied into arena (Pebble's buffers do
// not outlive the iterator's step).
type loadBatch struct {
	items []loadItem
	arena []byte
}

type loadItem struct {
	s              *stream
	m              recovered
	subject, msgID [2]int // [start, end) in arena
}

func (b *loadBatch) add(s *stream, m recovered, r record) {
	it := loadItem{s: s, m: m}
	it.subject = b.copy(r.subject)
	if s.cfg.DuplicateWindow > 0 && !s.driven { // driven: persisted apart
		it.msgID = b.copy(r.msgID)
	}
	b.items = append(b.items, it)
}

func (b *loadBatch) copy(p []byte) [2]int {
	start := len(b.arena)
	b.arena = append(b.arena, p...)
	return [2]int{start, len(b.arena)}
}

// index indexes the batch's messages and empties it.
func (b *loadBatch) index(now int64) {
	for i := range b.items {
		it := &b.items[i]
		it.s.indexRecovered(it.m, b.arena[it.subject[0]:it.subject[1]], b.arena[it.msgID[0]:it.msgID[1]], now)
		it.s = nil
	}
	b.items, b.arena = b.items[:0], b.arena[:0]
}

// recovered is what the index takes of one stored message.
type recovered struct {
	seq   uint64
	time  int64
	ttl   time.Duration
	size  uint32
	flags uint8
}

// recovered summarizes the stored message seq; it reads only s's
// configuration, so any goroutine may call it.
func (s *stream) recovered(seq uint64, r record) recovered {
	m := recovered{seq: seq, time: r.time, ttl: r.ttl}
	if r.ttl < 0 {
		m.flags |= entryNeverExpire
	}
	if isDeleteMarker(r.header) {
		m.flags |= entryDeleteMarker
	}
	m.size = uint32(s.msgSize("", r.header, r.data) + uint64(len(r.subject)))
	return m
}

// recoverMsg indexes one stored message during load.
func (s *stream) recoverMsg(seq uint64, r record, now int64) {
	s.indexRecovered(s.recovered(seq, r), r.subject, r.msgID, now)
}

// indexRecovered adds a stored message to the index, the TTL tracking
// and the duplicate window.
func (s *stream) indexRecovered(m recovered, subject, msgID []byte, now int64) {
	t := max(m.time, s.ix.lastTime())
	s.ix.addBytes(subject, entry{seq: m.seq, time: t, size: m.size, flags: m.flags})
	if m.seq > s.lastSeq {
		s.lastSeq, s.lastTime = m.seq, t
	}
	s.trackTTLLocked(m.seq, t, m.ttl)
	// A driven stream's ids come from its "I" records on load (none
	// reach here); on import it takes every id, and finishRecoveryLocked
	// cuts them at its last timestamp, not at the import's time.
	if w := s.cfg.DuplicateWindow; w > 0 && len(msgID) > 0 && (s.driven || subSat(now, t) < int64(w)) {
		s.dedup.add(string(msgID), m.seq, t)
	}
}
