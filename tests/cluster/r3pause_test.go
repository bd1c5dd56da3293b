package cluster

// A deposed leader of an R3 bucket (issue 15, points 4 and 5), on both
// kinds of three-node cluster:
//
//   - TestR3PausedLeader: the leader is paused with SIGSTOP for longer
//     than an election while clients of the two other nodes keep
//     writing one key. A client of the paused node issues a put at once
//     and, once writes were acknowledged by the new leader, a get; both
//     wait in the paused node's socket. After SIGCONT the get must not
//     return a revision older than the newest one acknowledged before it
//     was issued, and the queued put, if acknowledged at all, must be in
//     the new leader's history under the revision it was acknowledged
//     with (not an ack from the old term). Both queued calls wait 15 s
//     at most; an error or a timeout is an allowed answer.
//   - TestR3MinorityPartition: every route goes through a fault proxy,
//     one per direction and pair (each node dials its peers through its
//     own proxies and advertises an address nobody listens on, so no
//     node dials another directly). The proxies cut the leader off from
//     both others; a client of the isolated node keeps putting: none of
//     its puts called after the cut is acknowledged, while the majority
//     elects a leader and takes writes. Healed, every write acknowledged
//     by the majority is read back through the once isolated node
//     (at once: a stale or missing answer fails cairn and is logged for
//     nats-server; then, once every replica is current, on both).
//
// Cairn must pass; nats-server's outcomes are logged (issue 15: nats-
// server 2.15.2 answered the queued read from its old state).

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// result is a KV call's outcome arriving on a channel.
type result struct {
	rev   uint64
	value string
	err   error
	at    time.Time
}

func TestR3PausedLeader(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		const bucket, key = "pause", "k"
		// History 64: every revision stays readable, so the queued put's
		// revision can be checked against the new leader's history.
		nodes, js := r3Cluster(t, k, jetstream.KeyValueConfig{Bucket: bucket, History: 64})
		li := leaderNode(t, nodes, js[0], bucket, "", 10*time.Second)
		paused := nodes[li]
		a, b := (li+1)%3, (li+2)%3
		kvA, kvB := kvOn(t, js[a], bucket), kvOn(t, js[b], bucket)
		jsL := jsOn(t, paused)
		kvL := kvOn(t, jsL, bucket)
		r0, err := kvA.Put(ctxT(t, 5*time.Second), key, []byte("v0"))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "replicas current", func() bool { return replicasCurrent(js[a], bucket) })

		paused.signal(t, syscall.SIGSTOP)
		stopped := time.Now()
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				paused.signal(t, syscall.SIGCONT)
			}
		}
		defer resume()
		putCh := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			rev, err := kvL.Put(ctx, key, []byte("from-paused"))
			putCh <- result{rev: rev, err: err, at: time.Now()}
		}()

		// Writes through the two others until the new leader has
		// acknowledged five.
		acked := map[uint64]string{r0: "v0"}
		maxAcked := r0
		var firstAck time.Duration
		for i, n := 0, 0; n < 5; i++ {
			if time.Since(stopped) > 60*time.Second {
				t.Fatalf("%s: no new leader took writes within 60s of the pause", k.name)
			}
			kv := []jetstream.KeyValue{kvA, kvB}[i%2]
			value := fmt.Sprint("w", i)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			rev, err := kv.Put(ctx, key, []byte(value))
			cancel()
			if err != nil {
				continue
			}
			if firstAck == 0 {
				firstAck = time.Since(stopped)
			}
			acked[rev] = value
			maxAcked = max(maxAcked, rev)
			n++
		}
		newLeader := leaderNode(t, nodes, js[a], bucket, paused.name, 30*time.Second)
		t.Logf("%s: %s paused; %s leads; first write acknowledged %v after the pause", k.name, paused.name, nodes[newLeader].name, firstAck.Round(time.Millisecond))

		// The get, issued after rev maxAcked was acknowledged, waits in
		// the paused node's socket.
		getCh := make(chan result, 1)
		issued := maxAcked
		sent := jsL.Conn().Stats().OutMsgs
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			e, err := kvL.Get(ctx, key)
			r := result{err: err, at: time.Now()}
			if err == nil {
				r.rev, r.value = e.Revision(), string(e.Value())
			}
			getCh <- r
		}()
		// The get is published (the client's connection is up, so its
		// flusher writes it to the paused node's socket at once); the
		// pause lasts a little longer, a margin for that write.
		waitFor(t, 5*time.Second, "the get published", func() bool { return jsL.Conn().Stats().OutMsgs > sent })
		time.Sleep(100 * time.Millisecond)
		resume()
		t.Logf("%s: resumed after %v", k.name, time.Since(stopped).Round(time.Millisecond))

		var g result
		select {
		case g = <-getCh:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the queued get never returned", k.name)
		}
		switch {
		case g.err != nil:
			t.Logf("%s: queued get: %v (an error is allowed)", k.name, g.err)
		case g.rev < issued:
			msg := fmt.Sprintf("%s: queued get returned rev %d %q, older than rev %d acknowledged before it was issued", k.name, g.rev, g.value, issued)
			if k.name == "cairn" {
				t.Error(msg)
			} else {
				t.Log(msg)
			}
		default:
			t.Logf("%s: queued get: rev %d %q (newest acknowledged before it: %d)", k.name, g.rev, g.value, issued)
		}

		var p result
		select {
		case p = <-putCh:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the queued put never returned", k.name)
		}
		if p.err != nil {
			t.Logf("%s: queued put: %v (an error is allowed)", k.name, p.err)
			return
		}
		// Acknowledged: it must be in the new history as acknowledged.
		// Polled through both other nodes until found (on nats-server
		// a replica may serve the read before it has the revision).
		var e jetstream.KeyValueEntry
		found := func() bool {
			for _, kv := range []jetstream.KeyValue{kvA, kvB} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				e, err = kv.GetRevision(ctx, key, p.rev)
				cancel()
				if err != nil || string(e.Value()) != "from-paused" {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(10 * time.Second); !found() && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		other, collides := acked[p.rev]
		ok := err == nil && string(e.Value()) == "from-paused" && !collides
		msg := fmt.Sprintf("%s: queued put acknowledged with rev %d; that revision reads %s %v (acknowledged to another writer: %v %q)", k.name, p.rev, entryText(e), err, collides, other)
		if !ok && k.name == "cairn" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	})
}

// routeProxies is a cluster whose every route goes through a proxy:
// px[i][j] carries node i's dial of node j.
type routeProxies struct {
	nodes []*node
	px    [][]*proxy
}

// startProxiedCluster starts three JetStream nodes of kind k whose
// routes all pass through proxies (see the file comment).
func startProxiedCluster(t *testing.T, k kind) *routeProxies {
	t.Helper()
	bin := k.bin(t)
	rp := &routeProxies{}
	for i := range 3 {
		rp.nodes = append(rp.nodes, &node{name: fmt.Sprintf("n%d", i+1), bin: bin, clientPort: freePort(t), routePort: freePort(t),
			dir: t.TempDir(), js: true, advertise: fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	}
	rp.px = make([][]*proxy, 3)
	for i, n := range rp.nodes {
		rp.px[i] = make([]*proxy, 3)
		for j, peer := range rp.nodes {
			if i != j {
				rp.px[i][j] = startProxy(t, fmt.Sprintf("127.0.0.1:%d", peer.routePort))
				n.routes = append(n.routes, rp.px[i][j].URL())
			}
		}
	}
	for _, n := range rp.nodes {
		n.start(t)
	}
	for _, n := range rp.nodes {
		waitFormed(t, n, rp.nodes)
	}
	for _, n := range rp.nodes {
		waitJS(t, n)
	}
	return rp
}

// isolate cuts node i off from the others (refusing new connections
// too), or lets it back.
func (rp *routeProxies) isolate(i int, cut bool) {
	for j := range rp.nodes {
		if j == i {
			continue
		}
		for _, p := range []*proxy{rp.px[i][j], rp.px[j][i]} {
			p.refusing.Store(cut)
			if cut {
				p.cut()
			}
		}
	}
}

func TestR3MinorityPartition(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		const bucket = "part"
		rp := startProxiedCluster(t, k)
		nodes := rp.nodes
		js := make([]jetstream.JetStream, 3)
		for i, n := range nodes {
			js[i] = jsOn(t, n)
		}
		if _, err := js[0].CreateKeyValue(ctxT(t, 10*time.Second), jetstream.KeyValueConfig{Bucket: bucket, Replicas: 3}); err != nil {
			t.Fatalf("%s: create R3 bucket: %v", k.name, err)
		}
		visible(t, js, bucket)
		waitFor(t, 15*time.Second, "replicas current", func() bool { return replicasCurrent(js[0], bucket) })
		li := leaderNode(t, nodes, js[0], bucket, "", 10*time.Second)
		m := (li + 1) % 3
		kvIso, kvMaj := kvOn(t, js[li], bucket), kvOn(t, js[m], bucket)
		if _, err := kvIso.Put(ctxT(t, 5*time.Second), "before", []byte("cut")); err != nil {
			t.Fatal(err)
		}

		rp.isolate(li, true)
		cut := time.Now()
		var mu sync.Mutex
		var isoAcks []string
		isoAttempts := 0
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprint("iso-", i)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				call := time.Now()
				rev, err := kvIso.Put(ctx, key, []byte(key))
				cancel()
				mu.Lock()
				isoAttempts++
				if err == nil && call.After(cut) {
					isoAcks = append(isoAcks, fmt.Sprintf("%s rev %d, %v after the cut", key, rev, time.Since(cut).Round(time.Millisecond)))
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond) // pacing, not synchronisation
				}
			}
		}()
		majAcks := map[string]uint64{}
		var firstMaj time.Duration
		for i := 0; len(majAcks) < 20 || time.Since(cut) < 8*time.Second; i++ {
			if time.Since(cut) > 60*time.Second {
				t.Fatalf("%s: the majority took %d writes in 60s", k.name, len(majAcks))
			}
			key := fmt.Sprint("maj-", i)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			rev, err := kvMaj.Put(ctx, key, []byte(key))
			cancel()
			if err == nil {
				if firstMaj == 0 {
					firstMaj = time.Since(cut)
				}
				majAcks[key] = rev
			}
			time.Sleep(5 * time.Millisecond) // pacing, not synchronisation
		}
		close(stop)
		<-done
		t.Logf("%s: %s isolated: the majority's first write acknowledged %v after the cut, %d in %v; the isolated client made %d attempts, %d acknowledged",
			k.name, nodes[li].name, firstMaj.Round(time.Millisecond), len(majAcks), time.Since(cut).Round(time.Millisecond), isoAttempts, len(isoAcks))
		if len(isoAcks) > 0 {
			msg := fmt.Sprintf("%s: the isolated node acknowledged writes: %v", k.name, isoAcks)
			if k.name == "cairn" {
				t.Error(msg)
			} else {
				t.Log(msg)
			}
		}

		rp.isolate(li, false)
		for _, n := range nodes {
			waitFormed(t, n, nodes)
		}
		healed := time.Now()
		waitFor(t, 30*time.Second, "the bucket writable through the once isolated node", func() bool { return reachable(js[li], bucket) })
		t.Logf("%s: writable through %s %v after the heal", k.name, nodes[li].name, time.Since(healed).Round(time.Millisecond))
		// Read at once through the once isolated node (stale answers
		// are logged: nats-server serves direct gets from a replica
		// still catching up), then, once every replica is current,
		// every acknowledged write must be there.
		stale := 0
		for key, rev := range majAcks {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			e, err := kvIso.Get(ctx, key)
			cancel()
			if err == nil && e.Revision() == rev {
				continue
			}
			if !isTransient(err) {
				stale++
			}
		}
		msg := fmt.Sprintf("%s: right after the heal, %d of %d acknowledged writes read through %s were missing or stale", k.name, stale, len(majAcks), nodes[li].name)
		if stale > 0 && k.name == "cairn" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
		waitFor(t, 30*time.Second, "replicas current", func() bool { return replicasCurrent(js[li], bucket) })
		for key, rev := range majAcks {
			var e jetstream.KeyValueEntry
			var err error
			waitFor(t, 10*time.Second, "read "+key, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				e, err = kvIso.Get(ctx, key)
				return !isTransient(err)
			})
			if err != nil || e.Revision() != rev || string(e.Value()) != key {
				msg := fmt.Sprintf("%s: acknowledged %s rev %d read through %s after the heal: %s %v", k.name, key, rev, nodes[li].name, entryText(e), err)
				if k.name != "cairn" {
					// nats-server's direct get may still be answered by
					// the once isolated replica (seen in CI): logged.
					t.Log(msg)
					continue
				}
				t.Fatal(msg)
			}
		}
	})
}
