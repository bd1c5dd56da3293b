package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// hostileHeader is a valid header of a driven stream "H" with two
// messages, 5 and 7, between 5 and 9.
func hostileHeader(kind StorageType) ReplicaHeader {
	return ReplicaHeader{
		Config:  Config{Name: "H", Storage: kind, Driven: true, DuplicateWindow: time.Minute},
		Applied: 40, Msgs: 2, FirstSeq: 5, LastSeq: 9, LastTime: 100,
		IDs: []ReplicaID{{ID: "a", Seq: 5, Time: 10}, {ID: "b", Seq: 7, Time: 20}},
	}
}

func hostileMsg(seq uint64, t int64) ExportedMsg {
	return ExportedMsg{Msg: Msg{Subject: "k", Seq: seq, Time: t, Data: []byte("v")}}
}

// TestReplicaImportHostile feeds imports headers and messages that lie:
// each is refused with the error named, and the stream of that name
// (which the import would replace) stays as it was, with no table file
// left behind.
func TestReplicaImportHostile(t *testing.T) {
	cases := []struct {
		name   string
		header func(h *ReplicaHeader)
		msgs   []ExportedMsg
		want   error // from NewReplicaImport, Add or Commit
	}{
		{"huge count beyond the range", func(h *ReplicaHeader) { h.Msgs = 1 << 60 }, nil, ErrBadReplicaHeader},
		{"huge count within the range", func(h *ReplicaHeader) { h.Msgs, h.LastSeq = 1<<60, MaxSeq }, []ExportedMsg{hostileMsg(5, 10), hostileMsg(7, 20)}, ErrBadReplicaHeader},
		{"fewer messages", nil, []ExportedMsg{hostileMsg(5, 10)}, ErrBadReplicaHeader},
		{"more messages", nil, []ExportedMsg{hostileMsg(5, 10), hostileMsg(7, 20), hostileMsg(8, 20)}, ErrBadReplicaHeader},
		{"repeated sequence", nil, []ExportedMsg{hostileMsg(5, 10), hostileMsg(5, 10)}, ErrImportOrder},
		{"descending sequence", func(h *ReplicaHeader) { h.Msgs = 3 }, []ExportedMsg{hostileMsg(5, 10), hostileMsg(8, 20), hostileMsg(6, 20)}, ErrImportOrder},
		{"above last", nil, []ExportedMsg{hostileMsg(5, 10), hostileMsg(10, 20)}, ErrBadReplicaHeader},
		{"below first", nil, []ExportedMsg{hostileMsg(4, 10)}, ErrBadReplicaHeader},
		{"first not at first", nil, []ExportedMsg{hostileMsg(6, 10)}, ErrBadReplicaHeader},
		{"time after last", nil, []ExportedMsg{hostileMsg(5, 10), hostileMsg(7, 101)}, ErrBadReplicaHeader},
		{"bad subject", nil, []ExportedMsg{{Msg: Msg{Subject: "a.*", Seq: 5, Time: 10}}}, ErrInvalidSubject},
		{"first after last", func(h *ReplicaHeader) { h.FirstSeq = 10 }, nil, ErrBadReplicaHeader},
		{"empty with a gap", func(h *ReplicaHeader) { h.Msgs, h.FirstSeq = 0, 3 }, nil, ErrBadReplicaHeader},
		{"last beyond MaxSeq", func(h *ReplicaHeader) { h.LastSeq = MaxSeq + 1 }, nil, ErrBadReplicaHeader},
		{"id beyond last", func(h *ReplicaHeader) { h.IDs[1].Seq = 10 }, nil, ErrBadReplicaHeader},
		{"id after last time", func(h *ReplicaHeader) { h.IDs[1].Time = 101 }, nil, ErrBadReplicaHeader},
		{"repeated id", func(h *ReplicaHeader) { h.IDs[1].ID = "a" }, nil, ErrBadReplicaHeader},
		{"empty id", func(h *ReplicaHeader) { h.IDs[0].ID = "" }, nil, ErrBadReplicaHeader},
		{"ids out of order", func(h *ReplicaHeader) { h.IDs[0], h.IDs[1] = h.IDs[1], h.IDs[0] }, nil, ErrBadReplicaHeader},
		{"no name", func(h *ReplicaHeader) { h.Config.Name = "" }, nil, ErrBadReplicaHeader},
		{"unknown storage", func(h *ReplicaHeader) { h.Config.Storage = 7 }, nil, ErrBadReplicaHeader},
	}
	forEachStorage(t, func(t *testing.T, hs *harness) {
		old := hs.create(Config{Name: "H", Driven: true})
		if _, err := old.Append("old", nil, []byte("1"), AppendOpts{Time: 1, Applied: 3}); err != nil {
			t.Fatal(err)
		}
		want := streamDigest(old, true)
		for _, c := range cases {
			h := hostileHeader(hs.kind)
			if c.header != nil {
				c.header(&h)
			}
			err := func() error {
				im, err := hs.st.NewReplicaImport(h)
				if err != nil {
					return err
				}
				defer im.Abort()
				for _, m := range c.msgs {
					if err := im.Add(m); err != nil {
						return err
					}
				}
				_, err = im.Commit()
				return err
			}()
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			s, serr := hs.st.Stream("H")
			if serr != nil || s != old || streamDigest(s, true) != want {
				t.Fatalf("%s: the stream of the name changed (%v)", c.name, serr)
			}
			if hs.dir != "" {
				if tmp, _ := filepath.Glob(filepath.Join(hs.dir, "import-*")); len(tmp) > 0 {
					t.Fatalf("%s: left %v", c.name, tmp)
				}
			}
		}
		// The valid header, for contrast, replaces the stream.
		im, err := hs.st.NewReplicaImport(hostileHeader(hs.kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []ExportedMsg{hostileMsg(5, 10), hostileMsg(7, 20)} {
			if err := im.Add(m); err != nil {
				t.Fatal(err)
			}
		}
		s, err := im.Commit()
		if err != nil {
			t.Fatal(err)
		}
		if st := s.State(); st.FirstSeq != 5 || st.LastSeq != 9 || st.Msgs != 2 || st.LastTime != 100 || s.Applied() != 40 {
			t.Fatalf("imported %+v applied %d", st, s.Applied())
		}
		if r, err := s.Append("k", nil, nil, AppendOpts{Time: 100, Applied: 41, MsgID: "b"}); err != nil || !r.Duplicate || r.Seq != 7 {
			t.Fatalf("id b: %+v %v, want a duplicate of 7", r, err)
		}
	})
}

// reseal replaces the checksum of an encoded header.
func reseal(b []byte) []byte {
	body := b[:len(b)-4]
	return binary.BigEndian.AppendUint32(body[:len(body):len(body)], crc32.Checksum(body, replicaCRC))
}

// TestDecodeReplicaHeaderHostile: every prefix, every flipped byte, and
// well-sealed inputs that lie about their counts are refused with
// ErrBadReplicaHeader, without allocating what they claim.
func TestDecodeReplicaHeaderHostile(t *testing.T) {
	h := hostileHeader(FileStorage)
	h.Meta = []byte(`{"x":1}`)
	good := h.Encode()
	if got, err := DecodeReplicaHeader(good); err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for n := range len(good) {
		if _, err := DecodeReplicaHeader(good[:n]); !errors.Is(err, ErrBadReplicaHeader) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		if _, err := DecodeReplicaHeader(b); !errors.Is(err, ErrBadReplicaHeader) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	// Sealed lies: rebuild the body by hand.
	body := func(cfg string, nIDs uint64, tail []byte) []byte {
		b := append([]byte(replicaMagic), replicaVersion)
		b = binary.AppendUvarint(b, uint64(len(cfg)))
		b = append(b, cfg...)
		b = binary.AppendUvarint(b, 0)
		for _, v := range []uint64{1, 0, 0, 0, 0} {
			b = binary.BigEndian.AppendUint64(b, v)
		}
		b = binary.AppendUvarint(b, nIDs)
		b = append(b, tail...)
		return reseal(append(b, 0, 0, 0, 0))
	}
	cases := map[string][]byte{
		"valid":              body(`{"Name":"x"}`, 0, nil),
		"huge id count":      body(`{"Name":"x"}`, 1<<62, nil),
		"id count past data": body(`{"Name":"x"}`, 2, make([]byte, 20)),
		"trailing bytes":     body(`{"Name":"x"}`, 0, []byte{1}),
		"config not JSON":    body(`{"Name":`, 0, nil),
		"config no name":     body(`{}`, 0, nil),
		"id past last":       body(`{"Name":"x"}`, 1, append(append([]byte{1, 'i'}, make([]byte, 7)...), 1, 0, 0, 0, 0, 0, 0, 0, 0)),
		"wrong version":      reseal(append([]byte(replicaMagic+"\x02"), good[4:]...)),
		"not a header":       []byte("hello, world"),
	}
	for name, b := range cases {
		_, err := DecodeReplicaHeader(b)
		if name == "valid" {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadReplicaHeader) {
			t.Errorf("%s: %v, want ErrBadReplicaHeader", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	allocs := testing.AllocsPerRun(10, func() { _, _ = DecodeReplicaHeader(cases["huge id count"]) })
	if allocs > 10 {
		t.Fatalf("a huge id count costs %v allocations", allocs)
	}
}

// FuzzDecodeReplicaHeader: the decoder never panics, refuses with
// ErrBadReplicaHeader, and what it accepts encodes and decodes to
// itself. Corpus: testdata/fuzz/FuzzDecodeReplicaHeader (regenerate
// the seeds with -run TestReplicaFuzzCorpus -store.update).
func FuzzDecodeReplicaHeader(f *testing.F) {
	for _, b := range replicaFuzzSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeReplicaHeader(b)
		if err != nil {
			if !errors.Is(err, ErrBadReplicaHeader) {
				t.Fatalf("error %v does not match ErrBadReplicaHeader", err)
			}
			return
		}
		h2, err := DecodeReplicaHeader(h.Encode())
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("re-encoded: %+v %v, want %+v", h2, err, h)
		}
	})
}

func replicaFuzzSeeds() [][]byte {
	full := hostileHeader(FileStorage)
	full.Meta = []byte(`{"config":{}}`)
	full.Config.Subjects = []string{"$KV.b.>"}
	empty := ReplicaHeader{Config: Config{Name: "E", Storage: MemoryStorage}}
	forward := ReplicaHeader{Config: Config{Name: "F", Driven: true}, FirstSeq: 41, LastSeq: 40, LastTime: 7, Applied: 3}
	return [][]byte{full.Encode(), empty.Encode(), forward.Encode(), []byte("CRH\x01")}
}

// TestReplicaFuzzCorpus keeps the seed corpus in testdata/fuzz in step
// with replicaFuzzSeeds; -store.update rewrites it.
func TestReplicaFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeReplicaHeader")
	for i, b := range replicaFuzzSeeds() {
		path := filepath.Join(dir, fmt.Sprintf("seed-%d", i))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if *updateGolden {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Fatalf("%s is stale (%v): run with -store.update", path, err)
		}
	}
}

// TestReplicaImportCrash cuts the power (Pebble's crashable file
// system, under both sync policies) during an import replacing a file
// stream: before
// Commit, between the drop of the old stream and the ingestion of the
// new one, and after Commit. Reopened, the store holds the old stream
// whole, no stream of the name, or the new one whole, respectively, and
// no import table file.
func TestReplicaImportCrash(t *testing.T) {
	srcStore, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srcStore.Close()
	src, err := srcStore.CreateStream(Config{Name: "D", Driven: true, AllowMsgTTL: true, DuplicateWindow: time.Hour}, []byte("meta"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		o := AppendOpts{Time: int64(1000 + i), Applied: uint64(i + 1), MsgID: fmt.Sprint("id", i)}
		if i%7 == 0 {
			o.TTL = time.Hour
		}
		if _, err := src.Append(fmt.Sprintf("k.%d", i%13), nil, []byte(strings.Repeat("x", i%30)), o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Purge(PurgeOpts{Subject: "k.3", Applied: 600}); err != nil {
		t.Fatal(err)
	}
	wantNew, wantNewRead := streamDigest(src, true), replicaDigest(t, srcStore, "D")
	for _, stage := range []string{"before-commit", "after-drop", "after-commit"} {
		for iter := range 4 {
			seed := time.Now().UnixNano() + int64(iter)
			always := iter%2 == 0
			t.Run(fmt.Sprintf("%s/always=%v/%d", stage, always, iter), func(t *testing.T) {
				t.Logf("seed %d", seed)
				rng := rand.New(rand.NewPCG(uint64(seed), 15))
				fs := vfs.NewCrashableMem()
				opts := Options{SyncAlways: always, fs: fs, SyncInterval: time.Hour}
				st, err := Open("/db", opts)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				old, _ := st.CreateStream(Config{Name: "D", Driven: true}, nil)
				for i := range 30 {
					if _, err := old.Append("old", nil, []byte{byte(i)}, AppendOpts{Time: 5, Applied: uint64(i + 1)}); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.syncWAL(); err != nil { // the default policy's periodic fsync
					t.Fatal(err)
				}
				wantOld := streamDigest(old, true)
				var clone *vfs.MemFS
				crash := func() {
					clone = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rng})
				}
				if stage == "after-drop" {
					importAfterDrop = crash
					defer func() { importAfterDrop = nil }()
				}
				between := func() {}
				if stage == "before-commit" {
					n := 0
					between = func() {
						if n++; n == 200 {
							crash()
						}
					}
				}
				copyReplica(t, srcStore, st, "D", FileStorage, between)
				if stage == "after-commit" {
					crash()
				}
				opts.fs = clone
				st2, err := Open("/db", opts)
				if err != nil {
					t.Fatalf("open after the crash: %v", err)
				}
				defer st2.Close()
				s, err := st2.Stream("D")
				switch stage {
				case "before-commit":
					if err != nil || streamDigest(s, true) != wantOld {
						t.Fatalf("old stream not intact: %v", err)
					}
				case "after-drop":
					if !errors.Is(err, ErrStreamNotFound) {
						t.Fatalf("stream after a crash between drop and ingestion: %v, want none", err)
					}
				case "after-commit":
					if err != nil {
						t.Fatal(err)
					}
					if got := streamDigest(s, true); got != wantNew {
						t.Fatalf("new stream differs:\n%s\n---\n%s", got, wantNew)
					}
					if got := replicaDigest(t, st2, "D"); got != wantNewRead {
						t.Fatalf("new stream's replica read differs:\n%s\n---\n%s", got, wantNewRead)
					}
				}
				names, _ := clone.List("/db")
				for _, n := range names {
					if strings.HasPrefix(n, "import-") {
						t.Fatalf("%s left after open", n)
					}
				}
			})
		}
	}
}

// TestReplicaReadPointInTime reads a large stream a few messages at a
// time while rewrites (history 1), deletes and purges remove what the
// read has not reached yet: the read returns exactly the stream at its
// start.
func TestReplicaReadPointInTime(t *testing.T) {
	defer func(n int) { replicaReadChunk = n }(replicaReadChunk)
	replicaReadChunk = 5
	forEachStorage(t, func(t *testing.T, h *harness) {
		rng := rand.New(rand.NewPCG(15, 15))
		s := h.create(Config{Name: "P", MaxMsgsPerSubject: 1, AllowMsgTTL: true, DuplicateWindow: time.Hour})
		for i := range 2000 {
			o := AppendOpts{MsgID: fmt.Sprint("m", i)}
			if i%3 == 0 {
				o.TTL = time.Hour
			}
			if _, err := s.Append(fmt.Sprintf("k.%d", rng.IntN(400)), nil, []byte(fmt.Sprint(i)), o); err != nil {
				t.Fatal(err)
			}
		}
		want := replicaDigest(t, h.st, "P")
		rr, err := h.st.ReadReplica("P")
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Close()
		hd := rr.Header()
		hd.Config.Storage = 0
		var b strings.Builder
		fmt.Fprintf(&b, "header %+v\n", hd)
		for i := 0; ; i++ {
			st := s.State()
			switch rng.IntN(6) {
			case 0, 1:
				_, _ = s.Append(fmt.Sprintf("k.%d", rng.IntN(400)), nil, []byte("new"), AppendOpts{})
			case 2:
				_ = s.Delete(st.FirstSeq + uint64(rng.IntN(int(st.LastSeq-st.FirstSeq+1))))
			case 3:
				if i%10 == 0 {
					_, _ = s.Purge(PurgeOpts{Subject: fmt.Sprintf("k.%d", rng.IntN(400))})
				}
			case 4:
				if i%50 == 0 {
					_, _ = s.Purge(PurgeOpts{Seq: st.FirstSeq + uint64(rng.IntN(200))})
				}
			}
			m, err := rr.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break
			}
			fmt.Fprintf(&b, "%d %d %s %q %q ttl=%v id=%q\n", m.Seq, m.Time, m.Subject, m.Header, m.Data, m.TTL, m.MsgID)
		}
		if got := b.String(); got != want {
			t.Fatalf("read under writes differs from the stream at its start:\n%.2000s\n---\n%.2000s", got, want)
		}
	})
}

// TestReplicaReadConcurrent reads a stream of either storage while
// writers rewrite, delete and purge it from other goroutines (run it
// with -race): the read returns exactly Header().Msgs messages,
// ascending, within [FirstSeq, LastSeq], whatever the writers did.
func TestReplicaReadConcurrent(t *testing.T) {
	defer func(n int) { replicaReadChunk = n }(replicaReadChunk)
	replicaReadChunk = 7
	forEachStorage(t, func(t *testing.T, h *harness) {
		s := h.create(Config{Name: "C", MaxMsgsPerSubject: 1})
		for i := range 3000 {
			if _, err := s.Append(fmt.Sprintf("k.%d", i%700), nil, []byte("v"), AppendOpts{}); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				st := s.State()
				switch rng.IntN(4) {
				case 0, 1:
					_, _ = s.Append(fmt.Sprintf("k.%d", rng.IntN(700)), nil, []byte("w"), AppendOpts{})
				case 2:
					_ = s.Delete(st.FirstSeq + uint64(rng.IntN(int(st.LastSeq-st.FirstSeq+1))))
				case 3:
					_, _ = s.Purge(PurgeOpts{Subject: fmt.Sprintf("k.%d", rng.IntN(700))})
				}
			}
		}()
		defer func() { close(stop); <-done }()
		for range 3 {
			rr, err := h.st.ReadReplica("C")
			if err != nil {
				t.Fatal(err)
			}
			hd := rr.Header()
			var n, last uint64
			for {
				m, err := rr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if m.Seq <= last || m.Seq < hd.FirstSeq || m.Seq > hd.LastSeq {
					t.Fatalf("message %d after %d, outside [%d, %d]", m.Seq, last, hd.FirstSeq, hd.LastSeq)
				}
				n, last = n+1, m.Seq
			}
			rr.Close()
			if n != hd.Msgs {
				t.Fatalf("read %d messages, header says %d", n, hd.Msgs)
			}
		}
	})
}
