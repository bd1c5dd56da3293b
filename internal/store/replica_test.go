package store

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// replicaDigest describes everything a replica read of s returns: the
// header (storage left out: the destination may differ) and every
// message with its TTL and id.
func replicaDigest(t *testing.T, st *Store, name string) string {
	t.Helper()
	rr, err := st.ReadReplica(name)
	if err != nil {
		t.Fatalf("ReadReplica: %v", err)
	}
	defer rr.Close()
	h := rr.Header()
	h.Config.Storage = 0
	var b strings.Builder
	fmt.Fprintf(&b, "header %+v\n", h)
	for {
		m, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		fmt.Fprintf(&b, "%d %d %s %q %q ttl=%v id=%q\n", m.Seq, m.Time, m.Subject, m.Header, m.Data, m.TTL, m.MsgID)
	}
	return b.String()
}

// streamDigest is drivenDigest with the deleted sequences on one line:
// DeletedSeqs cuts its pages by the work done, which depends on the
// index's removed slots, and an imported stream has none.
func streamDigest(s Stream, withBytes bool) string {
	var b strings.Builder
	var deleted []string
	for _, line := range strings.Split(drivenDigest(s, withBytes), "\n") {
		if seqs, ok := strings.CutPrefix(line, "deleted ["); ok {
			if seqs = strings.TrimSuffix(seqs, "]"); seqs != "" {
				deleted = append(deleted, seqs)
			}
			continue
		}
		b.WriteString(line + "\n")
	}
	fmt.Fprintf(&b, "deleted [%s]\n", strings.Join(deleted, " "))
	return b.String()
}

// copyReplica reads stream name of src and imports it into dst as
// storage, through the encoded header; between messages it calls
// between (may be nil), which may change the source.
func copyReplica(t *testing.T, src, dst *Store, name string, storage StorageType, between func()) Stream {
	t.Helper()
	rr, err := src.ReadReplica(name)
	if err != nil {
		t.Fatalf("ReadReplica: %v", err)
	}
	defer rr.Close()
	h, err := DecodeReplicaHeader(rr.Header().Encode())
	if err != nil {
		t.Fatalf("DecodeReplicaHeader: %v", err)
	}
	if want := rr.Header(); !reflect.DeepEqual(h, want) {
		t.Fatalf("header round trip:\n%+v\n%+v", h, want)
	}
	h.Config.Storage = storage
	im, err := dst.NewReplicaImport(h)
	if err != nil {
		t.Fatalf("NewReplicaImport: %v", err)
	}
	for {
		if between != nil {
			between()
		}
		m, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if err := im.Add(m); err != nil {
			t.Fatalf("Add %d: %v", m.Seq, err)
		}
	}
	s, err := im.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return s
}

// TestReplicaRoundTrip drives a source replica with a random log, reads
// it while the log goes on (so the read must stay at its point),
// imports it into a destination that already holds a stale stream of
// the name (replaced), then applies the same further entries to both:
// every outcome, every message (with TTL and id), the state, the gaps,
// the subjects, Applied() and the duplicate window must match, also
// after the destination reopens. Replay with -store.drivenseed=N.
func TestReplicaRoundTrip(t *testing.T) {
	variants := []struct {
		name     string
		src, dst StorageType
	}{
		{"file-file", FileStorage, FileStorage},
		{"memory-memory", MemoryStorage, MemoryStorage},
		{"file-memory", FileStorage, MemoryStorage},
		{"memory-file", MemoryStorage, FileStorage},
	}
	defer func(n int) { replicaReadChunk = n }(replicaReadChunk)
	replicaReadChunk = 3 // many chunks, with writes between them
	for _, v := range variants {
		for _, seed := range drivenSeeds() {
			t.Run(fmt.Sprintf("%s/seed=%d", v.name, seed), func(t *testing.T) {
				t.Logf("seed %d (replay: -store.drivenseed=%d)", seed, seed)
				runReplicaRoundTrip(t, v.src, v.dst, seed)
			})
		}
	}
}

func runReplicaRoundTrip(t *testing.T, srcKind, dstKind StorageType, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 15))
	cfg := drivenConfig(rng)
	dir := func(k StorageType) string {
		if k == FileStorage {
			return t.TempDir()
		}
		return ""
	}
	src := newDrivenReplica(t, dir(srcKind), time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), cfg)
	dst := newDrivenReplica(t, dir(dstKind), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), cfg)
	g := newDrivenGen(seed, src.s)
	// The destination's stale stream: a few entries of its own.
	stale := newDrivenGen(seed+1000, dst.s)
	for range 20 {
		stale.next().apply(dst.s)
	}
	old := dst.s
	for range 200 + rng.IntN(200) {
		g.next().apply(src.s)
	}
	withBytes := srcKind == dstKind
	want, wantRead := streamDigest(src.s, withBytes), replicaDigest(t, src.st, "D")
	// Entries applied to the source while it is read.
	var later []*drivenOp
	s := copyReplica(t, src.st, dst.st, "D", dstKind, func() {
		if rng.IntN(2) == 0 {
			op := g.next()
			op.apply(src.s)
			later = append(later, op)
		}
	})
	dst.s = s
	if _, err := old.Append("x", nil, nil, AppendOpts{Time: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to the replaced stream: %v, want ErrClosed", err)
	}
	if got := streamDigest(s, withBytes); got != want {
		t.Fatalf("imported stream differs from the source at the read:\n%s\n---\n%s", got, want)
	}
	if got := replicaDigest(t, dst.st, "D"); got != wantRead {
		t.Fatalf("replica reads differ:\n%s\n---\n%s", got, wantRead)
	}
	// The destination catches up with what the source applied meanwhile,
	// then both go on.
	for _, op := range later {
		op.apply(dst.s)
	}
	for i := range 300 {
		op := g.next()
		if a, b := op.apply(src.s), op.apply(dst.s); a != b {
			t.Fatalf("op %d %s: outcomes differ:\n  %s\n  %s", i, op, a, b)
		}
		if i == 150 && dstKind == FileStorage {
			dst.reopen()
		}
	}
	if a, b := streamDigest(src.s, withBytes), streamDigest(dst.s, withBytes); a != b {
		t.Fatalf("streams differ after the same entries:\n%s\n---\n%s", a, b)
	}
	if a, b := replicaDigest(t, src.st, "D"), replicaDigest(t, dst.st, "D"); a != b {
		t.Fatalf("replica reads differ after the same entries:\n%s\n---\n%s", a, b)
	}
	t.Logf("%d entries during the read; final %+v", len(later), src.s.State())
}

// TestReplicaCases copies streams in particular shapes between every
// pair of storages: empty, never written; moved forward by a purge;
// with gaps; with TTLs and a window of ids. The destination must equal
// the source and behave the same on the next entries.
func TestReplicaCases(t *testing.T) {
	base := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	sec := int64(time.Second)
	cases := []struct {
		name  string
		build func(s Stream) error
	}{
		{"empty", func(Stream) error { return nil }},
		{"purged-forward", func(s Stream) error {
			for i := range 5 {
				if _, err := s.Append("a", nil, []byte("x"), AppendOpts{Time: base + int64(i), Applied: uint64(i + 1)}); err != nil {
					return err
				}
			}
			_, err := s.Purge(PurgeOpts{Seq: 40, Applied: 9})
			return err
		}},
		{"gaps-ttl-ids", func(s Stream) error {
			for i := range 12 {
				o := AppendOpts{Time: base + int64(i)*sec, Applied: uint64(10 + i), MsgID: fmt.Sprintf("id%d", i)}
				if i%3 == 0 {
					o.TTL = time.Duration(i+1) * time.Second
				}
				if i%5 == 4 {
					o.TTL = -1
				}
				if _, err := s.Append(fmt.Sprintf("k.%d", i%4), []byte("NATS/1.0\r\nA: b\r\n\r\n"), []byte{byte(i)}, o); err != nil {
					return err
				}
			}
			for _, seq := range []uint64{2, 5, 6} {
				if err := s.DeleteApplied(seq, 30+seq); err != nil {
					return err
				}
			}
			_, err := s.ExpireAt(base+4*sec, 50)
			return err
		}},
	}
	kinds := []StorageType{FileStorage, MemoryStorage}
	for _, c := range cases {
		for _, from := range kinds {
			for _, to := range kinds {
				t.Run(fmt.Sprintf("%s/%s-%s", c.name, from, to), func(t *testing.T) {
					cfg := Config{Name: "D", Driven: true, AllowMsgTTL: true, DuplicateWindow: time.Minute, SubjectDeleteMarkerTTL: time.Second, MaxAge: time.Hour}
					dir := func(k StorageType) string {
						if k == FileStorage {
							return t.TempDir()
						}
						return ""
					}
					src := newDrivenReplica(t, dir(from), time.Unix(0, 0), cfg)
					dst := newDrivenReplica(t, dir(to), time.Unix(0, 0), Config{Name: "other"})
					if err := c.build(src.s); err != nil {
						t.Fatal(err)
					}
					s := copyReplica(t, src.st, dst.st, "D", to, nil)
					dst.s = s
					same := from == to
					if a, b := streamDigest(src.s, same), streamDigest(s, same); a != b {
						t.Fatalf("differ:\n%s\n---\n%s", a, b)
					}
					if a, b := replicaDigest(t, src.st, "D"), replicaDigest(t, dst.st, "D"); a != b {
						t.Fatalf("replica reads differ:\n%s\n---\n%s", a, b)
					}
					if to == FileStorage {
						dst.reopen()
					}
					// The same entries: a duplicate id, a new message, expiry.
					ops := []func(s Stream) string{
						func(s Stream) string {
							r, err := s.Append("k.1", nil, []byte("dup"), AppendOpts{Time: base + 20*sec, Applied: 100, MsgID: "id7"})
							return fmt.Sprint(r, err)
						},
						func(s Stream) string {
							r, err := s.Append("k.9", nil, []byte("new"), AppendOpts{Time: base + 21*sec, Applied: 101, TTL: 2 * time.Second})
							return fmt.Sprint(r, err)
						},
						func(s Stream) string { n, err := s.ExpireAt(base+30*sec, 102); return fmt.Sprint(n, err) },
						func(s Stream) string { n, err := s.ExpireAt(base+2*int64(time.Hour), 103); return fmt.Sprint(n, err) },
					}
					for i, op := range ops {
						if a, b := op(src.s), op(dst.s); a != b {
							t.Fatalf("op %d: %s, imported %s", i, a, b)
						}
						if a, b := streamDigest(src.s, same), streamDigest(dst.s, same); a != b {
							t.Fatalf("after op %d:\n%s\n---\n%s", i, a, b)
						}
					}
				})
			}
		}
	}
}

// TestReplicaReadClosedByDelete: deleting the stream ends a read of
// either storage.
func TestReplicaReadClosedByDelete(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{Name: "R"})
		for range 10 {
			if _, err := s.Append("a", nil, []byte("x"), AppendOpts{}); err != nil {
				t.Fatal(err)
			}
		}
		rr, err := h.st.ReadReplica("R")
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Close()
		if err := h.st.DeleteStream("R"); err != nil {
			t.Fatal(err)
		}
		if _, err := rr.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after delete: %v, want ErrClosed", err)
		}
	})
}
