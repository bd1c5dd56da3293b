package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// config is one soak run: cycles of put, kill -9, restart, verify under
// one sync policy on one store directory.
type config struct {
	server  string // cairn-server binary
	policy  string // "always" or "default"
	cycles  int
	writers int
	keys    int // distinct keys per writer, so puts supersede each other
	// The kill lands uniformly in [minRun, maxRun] after the writers
	// start.
	minRun, maxRun time.Duration
	rng            *rand.Rand
	log            io.Writer
}

// result counts what the run saw.
type result struct {
	Cycles int
	// Acked puts were acknowledged to a writer; Lost ones are not in the
	// bucket after the restart (neither at their revision nor superseded
	// by a later revision of their key).
	Acked, Lost int
	// Seen revisions reached a watcher; SeenLost ones were gone after the
	// restart: a reader saw a write that was not yet durable.
	Seen, SeenLost int
}

// put is one acknowledged or watched revision of a key.
type put struct {
	rev uint64
	val string
}

const bucket = "soak"

// run does cfg.cycles cycles on a fresh store directory.
func run(cfg config) (result, error) {
	dir, err := os.MkdirTemp("", "cairn-soak-"+cfg.policy+"-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	var res result
	p, err := startServer(cfg.server, dir, cfg.policy)
	if err != nil {
		return res, err
	}
	defer func() { p.kill() }()
	if err := createBucket(p.url); err != nil {
		return res, err
	}
	for c := 1; c <= cfg.cycles; c++ {
		acked, seen, err := cycle(cfg, p, c)
		if err != nil {
			return res, fmt.Errorf("cycle %d: %w", c, err)
		}
		if p, err = startServer(cfg.server, dir, cfg.policy); err != nil {
			return res, fmt.Errorf("cycle %d: restart: %w", c, err)
		}
		lost, seenLost, err := verify(p.url, acked, seen)
		if err != nil {
			return res, fmt.Errorf("cycle %d: verify: %w", c, err)
		}
		res.Cycles++
		res.Acked += countPuts(acked)
		res.Lost += lost
		res.Seen += countPuts(seen)
		res.SeenLost += seenLost
		fmt.Fprintf(cfg.log, "%s cycle %d/%d: acked %d lost %d, watched %d lost %d (total acked %d lost %d)\n",
			cfg.policy, c, cfg.cycles, countPuts(acked), lost, countPuts(seen), seenLost, res.Acked, res.Lost)
	}
	return res, nil
}

func countPuts(m map[string][]put) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

func createBucket(url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
	return err
}

// cycle runs the writers and a watcher against p, kills p at a random
// moment and returns every acknowledged and every watched revision, by
// key.
func cycle(cfg config, p *process, c int) (acked, seen map[string][]put, err error) {
	nc, err := nats.Connect(p.url, nats.NoReconnect())
	if err != nil {
		return nil, nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	kv, err := js.KeyValue(ctx, bucket)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	acked, seen = map[string][]put{}, map[string][]put{}
	var mu sync.Mutex
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	w, err := kv.WatchAll(watchCtx, jetstream.UpdatesOnly())
	if err != nil {
		return nil, nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			mu.Lock()
			seen[e.Key()] = append(seen[e.Key()], put{e.Revision(), string(e.Value())})
			mu.Unlock()
		}
	}()
	for wr := 0; wr < cfg.writers; wr++ {
		// One connection per writer, as separate clients would have:
		// a connection's publishes are handled one after the other.
		wnc, err := nats.Connect(p.url, nats.NoReconnect())
		if err != nil {
			return nil, nil, err
		}
		defer wnc.Close()
		wjs, err := jetstream.New(wnc)
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		kv, err := wjs.KeyValue(ctx, bucket)
		cancel()
		if err != nil {
			return nil, nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d.k%d", wr, i%cfg.keys)
				val := fmt.Sprintf("c%d-w%d-i%d", c, wr, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				rev, err := kv.Put(ctx, key, []byte(val))
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[key] = append(acked[key], put{rev, val})
				mu.Unlock()
			}
		}()
	}
	// The random moment of the crash; a pause on purpose, not a wait
	// for something to happen.
	span := cfg.maxRun - cfg.minRun
	time.Sleep(cfg.minRun + time.Duration(cfg.rng.Int64N(int64(span)+1)))
	p.kill()
	nc.Close()
	stopWatch()
	wg.Wait()
	return acked, seen, nil
}

// verify checks every acknowledged and watched revision against the
// restarted server: the key's current revision must be at least the
// put's, with the put's value when equal (a later revision supersedes
// it: the WAL is a prefix, so a later write present means this one was
// there too). It returns how many of each are lost.
func verify(url string, acked, seen map[string][]put) (lost, seenLost int, err error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return 0, 0, err
	}
	current := map[string]put{}
	get := func(key string) (put, error) {
		if cur, ok := current[key]; ok {
			return cur, nil
		}
		e, err := kv.Get(ctx, key)
		var cur put
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return put{}, fmt.Errorf("get %s: %w", key, err)
		default:
			cur = put{e.Revision(), string(e.Value())}
		}
		current[key] = cur
		return cur, nil
	}
	count := func(m map[string][]put) (int, error) {
		n := 0
		for key, puts := range m {
			cur, err := get(key)
			if err != nil {
				return 0, err
			}
			for _, p := range puts {
				if cur.rev < p.rev || (cur.rev == p.rev && cur.val != p.val) {
					n++
				}
			}
		}
		return n, nil
	}
	if lost, err = count(acked); err != nil {
		return 0, 0, err
	}
	if seenLost, err = count(seen); err != nil {
		return 0, 0, err
	}
	return lost, seenLost, nil
}

var listenRe = regexp.MustCompile(`Listening for client connections on ([0-9.:]+)`)

// process is one cairn-server run on the soak's store directory.
type process struct {
	cmd *exec.Cmd
	url string
}

// startServer runs bin on a free loopback port over dir and waits until
// it listens.
func startServer(bin, dir, policy string) (*process, error) {
	args := []string{"-a", "127.0.0.1", "-p", "-1", "-sd", dir}
	if policy == "always" {
		args = append(args, "--sync_interval", "always")
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd}
	found := make(chan string, 1)
	exited := make(chan struct{})
	var out []string // the log, for the error when it does not start
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			if len(out) < 50 {
				out = append(out, sc.Text())
			}
		}
	}()
	select {
	case addr := <-found:
		p.url = "nats://" + addr
		return p, nil
	case <-exited:
	case <-time.After(60 * time.Second):
		p.kill()
		<-exited
	}
	p.kill()
	return nil, fmt.Errorf("%s did not start listening: %q", bin, out)
}

// kill sends SIGKILL to the process and reaps it.
func (p *process) kill() {
	if p == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
