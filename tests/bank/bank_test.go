// Package bank is the bank-transfer test of issue 13: accounts are keys of
// one bucket holding amounts; writer goroutines move random amounts between
// two accounts with kvtxn transactions (two updates, each at the revision it
// read, retried on conflict); reader goroutines take point-in-time
// snapshots with kvtxn.GetAll, which must always sum to the total. Against
// cairn-server the server runs under --sync_interval always and is killed
// with SIGKILL between rounds and restarted on the same store; after each
// restart the total must hold and every acknowledged transaction must be
// there.
package bank

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
	"github.com/cairn-db/cairn/kvtxn"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinaries()
	os.Exit(code)
}

const (
	bucket   = "bank"
	accounts = 8
	initial  = 1000
	total    = accounts * initial
	writers  = 4
	readers  = 2
	// roundTraffic is how long each round runs before the kill.
	roundTraffic = 1500 * time.Millisecond
)

// rounds is the number of kill/restart rounds against cairn-server
// ($CAIRN_BANK_ROUNDS, default 3).
func rounds(t *testing.T) int {
	if s := os.Getenv("CAIRN_BANK_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("CAIRN_BANK_ROUNDS=%q: want 1..100", s)
		}
		return n
	}
	return 3
}

func account(i int) string { return fmt.Sprintf("acct.%d", i) }

func allAccounts() []string {
	keys := make([]string, accounts)
	for i := range keys {
		keys[i] = account(i)
	}
	return keys
}

// ledger records what the server acknowledged: each account's latest
// acknowledged revision and the balance written there.
type ledger struct {
	mu sync.Mutex
	// opened is the revision at which the accounts were opened: older
	// snapshots are rightly empty.
	opened    uint64
	rev       [accounts]uint64
	balance   [accounts]int
	commits   int
	conflicts int
	snapshots int
	pitReads  int // successful reads at an older revision
	tooOld    int // reads at an older revision refused as too old
}

func (l *ledger) acked(i int, rev uint64, balance int) {
	if rev > l.rev[i] {
		l.rev[i], l.balance[i] = rev, balance
	}
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0), nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // the kills break pipes: expected
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// setup creates the bucket with transactions and opens every account with
// one transaction.
func setup(t *testing.T, js jetstream.JetStream, l *ledger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 16}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if err := kvtxn.EnableTransactions(ctx, js, bucket); err != nil {
		t.Fatalf("enable transactions: %v", err)
	}
	tx := kvtxn.Begin(js, bucket)
	for i := 0; i < accounts; i++ {
		if err := tx.Create(account(i), []byte(strconv.Itoa(initial))); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tx.Commit(ctx)
	if err != nil {
		t.Fatalf("open the accounts: %v", err)
	}
	for i, w := range res.Writes {
		l.acked(i, w.Revision, initial)
	}
	l.opened = res.Revision
}

// transfer moves a random amount between two random accounts, retrying on
// conflicts. It returns an error only when the server is unreachable.
func transfer(ctx context.Context, js jetstream.JetStream, rng *rand.Rand, l *ledger) error {
	from := rng.IntN(accounts)
	to := (from + 1 + rng.IntN(accounts-1)) % accounts
	for attempt := 0; attempt < 100; attempt++ {
		snap, err := kvtxn.GetMany(ctx, js, bucket, []string{account(from), account(to)})
		if err != nil {
			return err
		}
		v := snap.Values()
		if len(snap.Entries) != 2 || len(v) != 2 {
			return fmt.Errorf("accounts %d and %d: read %d entries", from, to, len(snap.Entries))
		}
		balFrom, err1 := strconv.Atoi(string(v[account(from)]))
		balTo, err2 := strconv.Atoi(string(v[account(to)]))
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad balances %q %q", v[account(from)], v[account(to)])
		}
		revs := map[string]uint64{}
		for _, e := range snap.Entries {
			revs[e.Key] = e.Revision
		}
		amount := rng.IntN(min(balFrom, 50) + 1)
		tx := kvtxn.Begin(js, bucket)
		_ = tx.Update(account(from), []byte(strconv.Itoa(balFrom-amount)), revs[account(from)])
		_ = tx.Update(account(to), []byte(strconv.Itoa(balTo+amount)), revs[account(to)])
		res, err := tx.Commit(ctx)
		if errors.Is(err, kvtxn.ErrConflict) {
			l.mu.Lock()
			l.conflicts++
			l.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.commits++
		l.acked(from, res.Writes[0].Revision, balFrom-amount)
		l.acked(to, res.Writes[1].Revision, balTo+amount)
		l.mu.Unlock()
		return nil
	}
	return nil // gave up on this pair: too contended
}

// sum checks that a snapshot holds every account and sums to the total.
func sum(s *kvtxn.Snapshot) error {
	v := s.Values()
	if len(v) != accounts {
		return fmt.Errorf("snapshot at %d has %d accounts, want %d", s.Revision, len(v), accounts)
	}
	n := 0
	for k, b := range v {
		x, err := strconv.Atoi(string(b))
		if err != nil || x < 0 {
			return fmt.Errorf("snapshot at %d: account %s holds %q", s.Revision, k, b)
		}
		n += x
	}
	if n != total {
		return fmt.Errorf("snapshot at %d sums to %d, want %d: %s", s.Revision, n, total, fmtValues(v))
	}
	return nil
}

func fmtValues(v map[string][]byte) string {
	out := ""
	for i := 0; i < accounts; i++ {
		out += fmt.Sprintf("%s=%s ", account(i), v[account(i)])
	}
	return out
}

// read takes snapshots at the latest revision and, now and then, at an
// older one, until stop is closed or the server is gone. Any snapshot that
// does not sum to the total is returned as an error.
func read(ctx context.Context, js jetstream.JetStream, rng *rand.Rand, l *ledger, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		s, err := kvtxn.GetAll(ctx, js, bucket, ">")
		if err != nil {
			return nil // the server is gone: the check after restart follows
		}
		if err := sum(s); err != nil {
			return err
		}
		l.mu.Lock()
		l.snapshots++
		l.mu.Unlock()
		if back := uint64(rng.IntN(10)); s.Revision >= l.opened+back && rng.IntN(4) == 0 {
			// GetAll at an older revision is refused once anything at or
			// below it was removed; GetMany of every account is answered
			// while each still has an entry at or below it.
			var old *kvtxn.Snapshot
			if rng.IntN(2) == 0 {
				old, err = kvtxn.GetAll(ctx, js, bucket, ">", kvtxn.AtRevision(s.Revision-back))
			} else {
				old, err = kvtxn.GetMany(ctx, js, bucket, allAccounts(), kvtxn.AtRevision(s.Revision-back))
			}
			switch {
			case errors.Is(err, kvtxn.ErrRevisionTooOld):
				l.mu.Lock()
				l.tooOld++
				l.mu.Unlock()
			case err != nil:
				return nil
			default:
				if err := sum(old); err != nil {
					return err
				}
				l.mu.Lock()
				l.pitReads++
				l.mu.Unlock()
			}
		}
	}
}

// round runs writers and readers against url for roundTraffic, then calls
// kill (which may be nil) and waits for them. It fails t when a reader saw
// a bad snapshot.
func round(t *testing.T, url string, l *ledger, seed uint64, kill func()) {
	t.Helper()
	nc, js := connect(t, url)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var (
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(rng *rand.Rand) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if transfer(ctx, js, rng, l) != nil {
					return // the server is gone
				}
			}
		}(rand.New(rand.NewPCG(seed, uint64(w))))
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(rng *rand.Rand) {
			defer wg.Done()
			if err := read(ctx, js, rng, l, stop); err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		}(rand.New(rand.NewPCG(seed, uint64(100+r))))
	}
	timer := time.NewTimer(roundTraffic)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	if kill != nil {
		kill()
	}
	close(stop)
	wg.Wait()
	if p := failed.Load(); p != nil {
		t.Fatalf("seed %d: %v", seed, *p)
	}
}

// check verifies the bucket after a (re)start: the total holds and every
// account is at or after its last acknowledged revision, with the
// acknowledged balance when it is exactly there.
func check(t *testing.T, url string, l *ledger, seed uint64) {
	t.Helper()
	nc, js := connect(t, url)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := kvtxn.GetAll(ctx, js, bucket, ">")
	if err != nil {
		t.Fatalf("seed %d: snapshot after restart: %v", seed, err)
	}
	if err := sum(s); err != nil {
		t.Fatalf("seed %d: after restart: %v", seed, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range s.Entries {
		var i int
		if _, err := fmt.Sscanf(e.Key, "acct.%d", &i); err != nil || i < 0 || i >= accounts {
			t.Fatalf("unexpected key %q", e.Key)
		}
		switch {
		case e.Revision < l.rev[i]:
			t.Errorf("seed %d: %s is at revision %d after restart, but revision %d was acknowledged: an acknowledged transaction is lost", seed, e.Key, e.Revision, l.rev[i])
		case e.Revision == l.rev[i] && string(e.Value) != strconv.Itoa(l.balance[i]):
			t.Errorf("seed %d: %s at revision %d holds %s, acknowledged %d", seed, e.Key, e.Revision, e.Value, l.balance[i])
		}
	}
}

func seedFor(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CAIRN_BANK_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_BANK_SEED=%q", s)
		}
		seed = n
	}
	t.Logf("seed %d (replay with CAIRN_BANK_SEED=%d)", seed, seed)
	return seed
}

// TestBankPeer runs one round against nats-server, without kills: the
// reference for what the client package and the protocol promise.
func TestBankPeer(t *testing.T) {
	seed := seedFor(t)
	s := testserver.StartPeer(t)
	var l ledger
	_, js := connect(t, s.URL)
	setup(t, js, &l)
	round(t, s.URL, &l, seed, nil)
	check(t, s.URL, &l, seed)
	logLedger(t, &l)
}

// TestBankCairnKill runs rounds against cairn-server under --sync_interval
// always, killing it with SIGKILL at the end of each round and restarting
// it on the same store.
func TestBankCairnKill(t *testing.T) {
	seed := seedFor(t)
	dir := t.TempDir()
	p := testserver.StartCairnProcess(t, dir, "--sync_interval", "always")
	var l ledger
	nc, js := connect(t, p.URL)
	setup(t, js, &l)
	nc.Close()
	n := rounds(t)
	for r := 0; r < n; r++ {
		round(t, p.URL, &l, seed+uint64(r), p.Kill)
		p = testserver.StartCairnProcess(t, dir, "--sync_interval", "always")
		check(t, p.URL, &l, seed+uint64(r))
		if t.Failed() {
			return
		}
	}
	logLedger(t, &l)
}

func logLedger(t *testing.T, l *ledger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d transfers committed, %d conflicts retried, %d snapshots summed, %d older-revision snapshots summed, %d refused as too old",
		l.commits, l.conflicts, l.snapshots, l.pitReads, l.tooOld)
	if l.commits == 0 || l.snapshots == 0 {
		t.Errorf("the test exercised nothing: %d commits, %d snapshots", l.commits, l.snapshots)
	}
}
