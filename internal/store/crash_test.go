package store

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// crashPayload is the deterministic payload of writer w's i-th append.
func crashPayload(w, i int) []byte {
	return []byte(fmt.Sprintf("writer %d append %d %s", w, i, strings.Repeat("x", (w*31+i)%200)))
}

const crashChildEnv = "CAIRN_STORE_CRASH_CHILD"

// TestCrashChild is the child process of TestCrashKill: it appends from
// several goroutines under SyncAlways (or the default policy with
// CAIRN_STORE_CRASH_POLICY=default) and prints one line per
// acknowledged append, "seq writer i", until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCrashKill")
	}
	st, err := Open(dir, Options{SyncAlways: os.Getenv("CAIRN_STORE_CRASH_POLICY") != "default"})
	if err != nil {
		fmt.Printf("open error: %v\n", err)
		os.Exit(2)
	}
	s, err := st.Stream("KV_crash")
	if errors.Is(err, ErrStreamNotFound) {
		s, err = st.CreateStream(Config{Name: "KV_crash", MaxMsgsPerSubject: 3}, nil)
	}
	if err != nil {
		fmt.Printf("stream error: %v\n", err)
		os.Exit(2)
	}
	round := os.Getenv("CAIRN_STORE_CRASH_ROUND")
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for w := 0; w < 4; w++ {
		go func() {
			for i := 0; ; i++ {
				subject := fmt.Sprintf("$KV.crash.r%s.w%d.k%d", round, w, i%50)
				r, err := s.Append(subject, nil, crashPayload(w, i), AppendOpts{})
				mu.Lock()
				if err != nil {
					fmt.Fprintf(out, "append error: %v\n", err)
				} else {
					fmt.Fprintf(out, "%d %d %d %s\n", r.Seq, w, i, subject)
				}
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	// Meanwhile create and delete streams: none may be half there.
	for i := 0; ; i++ {
		name := fmt.Sprintf("tmp%d", i%3)
		if _, err := st.CreateStream(Config{Name: name}, []byte(name)); err != nil {
			st.DeleteStream(name)
		}
	}
}

// TestFlushChild is the child of TestCrashKillDefaultPolicy: it appends
// 1000 messages under the default policy, says "done" and waits to be
// killed.
func TestFlushChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" || os.Getenv("CAIRN_STORE_FLUSH_CHILD") == "" {
		t.Skip("only runs as the child of TestCrashKillDefaultPolicy")
	}
	st, err := Open(dir, Options{})
	if err != nil {
		fmt.Printf("open error: %v\n", err)
		os.Exit(2)
	}
	s, _ := st.CreateStream(Config{Name: "KV_flush"}, nil)
	for i := 0; i < 1000; i++ {
		if _, err := s.Append(fmt.Sprintf("k.%d", i), nil, crashPayload(0, i), AppendOpts{}); err != nil {
			fmt.Printf("append error: %v\n", err)
			os.Exit(2)
		}
	}
	fmt.Println("done")
	select {}
}

// TestCrashKillDefaultPolicy checks the default policy's promise: an
// acknowledged append is in the operating system, so it survives a
// kill -9 right after.
func TestCrashKillDefaultPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlushChild$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "CAIRN_STORE_FLUSH_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "done\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	cmd.Process.Kill() // at once: nothing may still be on its way

	cmd.Wait()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Stream("KV_flush")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.State().Msgs; n != 1000 {
		t.Fatalf("%d of 1000 acknowledged appends survived kill -9", n)
	}
}

// TestCrashKill kills a writing child process at random points and
// checks that every acknowledged append survives, over several rounds on
// the same directory, under both policies (by default an acknowledged
// append is in the operating system, which a process crash keeps).
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, policy := range []string{"always", "default"} {
		t.Run(policy, func(t *testing.T) { crashKill(t, policy) })
	}
}

func crashKill(t *testing.T, policy string) {
	dir := t.TempDir()
	type ack struct {
		w, i    int
		subject string
	}
	acked := map[uint64]ack{}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "CAIRN_STORE_CRASH_ROUND="+strconv.Itoa(round),
			"CAIRN_STORE_CRASH_POLICY="+policy)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		target := 200 + rng.Intn(800)
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			var a ack
			var seq uint64
			if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %s", &seq, &a.w, &a.i, &a.subject); err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %s", sc.Text())
			}
			acked[seq] = a
			if n++; n == target {
				cmd.Process.Kill() // SIGKILL: no chance to flush anything
				break
			}
		}
		for sc.Scan() { // acks written before the kill landed
			var a ack
			var seq uint64
			if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %s", &seq, &a.w, &a.i, &a.subject); err == nil {
				acked[seq] = a
			}
		}
		cmd.Wait()

		st, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		s, err := st.Stream("KV_crash")
		if err != nil {
			t.Fatal(err)
		}
		state := s.State()
		lastOfSubject := map[string]uint64{}
		for seq, a := range acked {
			if seq > state.LastSeq {
				t.Fatalf("round %d: acked seq %d beyond last %d", round, seq, state.LastSeq)
			}
			if seq > lastOfSubject[a.subject] {
				lastOfSubject[a.subject] = seq
			}
		}
		// With history 3 only the newest entries of a subject remain;
		// the newest acked one of each subject must be there, intact.
		for subject, seq := range lastOfSubject {
			m, err := s.Get(seq)
			if err != nil {
				if last, lerr := s.GetLast(subject); lerr == nil && last.Seq > seq {
					continue // superseded by an append acked too late to print
				}
				t.Fatalf("round %d: acked seq %d of %s lost: %v", round, seq, subject, err)
			}
			a := acked[seq]
			if m.Subject != subject || string(m.Data) != string(crashPayload(a.w, a.i)) {
				t.Fatalf("round %d: seq %d corrupt: %s %q", round, seq, m.Subject, m.Data)
			}
		}
		checkConsistent(t, s)
		for _, x := range st.Streams() {
			if x.Name() != "KV_crash" && string(x.Meta()) != x.Name() {
				t.Fatalf("half-made stream %s (meta %q)", x.Name(), x.Meta())
			}
		}
		t.Logf("round %d: %d acked, state %+v", round, len(acked), state)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkConsistent walks a stream and checks that its index, its
// messages and its state agree.
func checkConsistent(t *testing.T, s Stream) {
	t.Helper()
	st := s.State()
	var n, bytes uint64
	subjects := map[string]uint64{}
	prevTime := int64(0)
	for seq := st.FirstSeq; ; {
		m, err := s.GetNext("", seq)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("GetNext(%d): %v", seq, err)
		}
		if m.Time < prevTime {
			t.Fatalf("time goes back at %d", m.Seq)
		}
		prevTime = m.Time
		n++
		bytes += s.(*stream).msgSize(m.Subject, m.Header, m.Data)
		subjects[m.Subject]++
		seq = m.Seq + 1
	}
	if n != st.Msgs || bytes != st.Bytes || len(subjects) != st.NumSubjects {
		t.Fatalf("walk found %d msgs %d bytes %d subjects; state %+v", n, bytes, len(subjects), st)
	}
}

// TestPowerLoss simulates losing every unsynced write (a crashable
// in-memory file system cloned at a random moment) while appending.
// Under SyncAlways no acknowledged append may be lost; under the default
// policy writes may be lost, but the store must open cleanly and be
// consistent.
func TestPowerLoss(t *testing.T) {
	for _, always := range []bool{true, false} {
		t.Run(fmt.Sprintf("always=%v", always), func(t *testing.T) {
			for iter := 0; iter < 3; iter++ {
				seed := time.Now().UnixNano() + int64(iter)
				t.Logf("seed %d", seed)
				powerLossOnce(t, always, seed)
			}
		})
	}
}

func powerLossOnce(t *testing.T, always bool, seed int64) {
	fs := vfs.NewCrashableMem()
	opts := Options{SyncAlways: always, fs: fs, SyncInterval: time.Hour}
	st, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := st.CreateStream(Config{Name: "PL"}, nil)
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := string(crashPayload(w, i))
				r, err := s.Append(fmt.Sprintf("s.%d.%d", w, i%7), nil, []byte(data), AppendOpts{})
				if err != nil {
					return
				}
				mu.Lock()
				acked[r.Seq] = data
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "some appends", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 300 })
	mu.Lock()
	snapshot := make(map[uint64]string, len(acked))
	for k, v := range acked {
		snapshot[k] = v
	}
	mu.Unlock()
	rng := randv2.New(randv2.NewPCG(uint64(seed), 7))
	clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rng})
	close(stop)
	wg.Wait()
	st.Close()

	opts.fs = clone
	st2, err := Open("/db", opts)
	if err != nil {
		t.Fatalf("open after power loss: %v", err)
	}
	defer st2.Close()
	s2, err := st2.Stream("PL")
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, s2)
	if !always {
		return
	}
	for seq, data := range snapshot {
		m, err := s2.Get(seq)
		if err != nil || string(m.Data) != data {
			t.Fatalf("acked seq %d lost after power loss: %v", seq, err)
		}
	}
}
