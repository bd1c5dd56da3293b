package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairn-db/cairn/bench/r3/cluster"
	"github.com/nats-io/nats.go/jetstream"
)

// latest is a key's last message on one replica.
type latest struct {
	seq  uint64
	data string
	op   string // KV-Operation header: "" for a value, DEL, PURGE
}

// verify reads every acknowledged write back through every node (direct
// gets through a client of that node: nats-server answers them from the
// node's own replica, preferring a local queue subscriber, but a server
// may hand them to another replica), checks that each node's own
// replica, as its /jsz shows it, ends at the stream's last sequence, and
// compares the keys' latest revisions between nodes; it fills the check
// counts of sum and returns an error only if it could not read.
func verify(c *cluster.Cluster, acked []event, sum *summary) error {
	keys := map[string]bool{}
	for _, e := range acked {
		keys[e.Key] = true
	}
	lasts := make([]map[string]latest, len(c.Nodes))
	streams := make([]jetstream.Stream, len(c.Nodes))
	var lastSeq uint64 // the stream's, from the leader
	for i := range c.Nodes {
		s, err := openSession(c, i, false)
		if err != nil {
			return err
		}
		defer s.nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		streams[i], err = s.js.Stream(ctx, "KV_"+bucket)
		cancel()
		if err != nil {
			return fmt.Errorf("verify on %s: %w", c.Nodes[i].Name, err)
		}
		if i == 0 {
			_, state, err := cluster.StreamCluster(s.js, "KV_"+bucket, 5*time.Second)
			if err != nil {
				return fmt.Errorf("verify: stream info: %w", err)
			}
			lastSeq = state.LastSeq
		}
		if err := waitApplied(streams[i], lastSeq); err != nil {
			return fmt.Errorf("verify on %s: %w", c.Nodes[i].Name, err)
		}
		// A direct get through a node need not be answered by that
		// node's replica: its own /jsz must show the stream's last
		// sequence too.
		if local, err := waitLocal(c.Nodes[i], lastSeq); err != nil {
			sum.behind++
			sum.notes = append(sum.notes, fmt.Sprintf("%s's own replica (/jsz): %s", c.Nodes[i].Name, local))
		}
		lasts[i] = map[string]latest{}
		for k := range keys {
			m, err := retry(func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
				return streams[i].GetLastMsgForSubject(ctx, "$KV."+bucket+"."+k)
			})
			if err != nil {
				return fmt.Errorf("verify on %s: last of %s: %w", c.Nodes[i].Name, k, err)
			}
			lasts[i][k] = latest{seq: m.Sequence, data: string(m.Data), op: m.Header.Get("KV-Operation")}
		}
	}
	var mu sync.Mutex
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(sum.notes) < 20 {
			sum.notes = append(sum.notes, fmt.Sprintf(format, args...))
		}
	}
	for k := range keys {
		for i := 1; i < len(c.Nodes); i++ {
			if lasts[i][k] != lasts[0][k] {
				sum.diverged++
				note("key %s: latest on %s is %+v, on %s %+v", k, c.Nodes[0].Name, lasts[0][k], c.Nodes[i].Name, lasts[i][k])
				break
			}
		}
	}
	var firstErr error
	var wg sync.WaitGroup
	for i := range c.Nodes {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := w; j < len(acked); j += 4 {
					bad, err := checkWrite(streams[i], acked[j], lasts[i])
					mu.Lock()
					sum.checked++
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("verify on %s: %w", c.Nodes[i].Name, err)
					}
					if bad != "" {
						sum.missing++
					}
					mu.Unlock()
					if err != nil {
						return
					}
					if bad != "" {
						note("%s: %s", c.Nodes[i].Name, bad)
					}
				}
			}()
		}
	}
	wg.Wait()
	sum.checked /= len(c.Nodes)
	return firstErr
}

// checkWrite returns what is wrong with an acknowledged write on one
// replica ("" if nothing): its revision must hold its key and value (a
// marker for a delete), or be gone with a later revision of the key there.
func checkWrite(s jetstream.Stream, e event, last map[string]latest) (string, error) {
	m, err := retry(func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return s.GetMsg(ctx, e.Rev) })
	// Not found although this node's latest for the key is this very
	// revision: a replica that is behind answered (direct gets go to any
	// replica that takes them); ask again for a while.
	for n := 0; n < 20 && errors.Is(err, jetstream.ErrMsgNotFound) && last[e.Key].seq == e.Rev; n++ {
		time.Sleep(100 * time.Millisecond)
		m, err = retry(func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return s.GetMsg(ctx, e.Rev) })
	}
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if l := last[e.Key]; l.seq > e.Rev {
			return "", nil // superseded
		}
		return fmt.Sprintf("%s %s=%q acknowledged at revision %d by client %d: gone, and the key's latest is %+v", e.Op, e.Key, e.Value, e.Rev, e.Client, last[e.Key]), nil
	case err != nil:
		return "", fmt.Errorf("revision %d: %w", e.Rev, err)
	}
	subject := "$KV." + bucket + "." + e.Key
	isDel := m.Header.Get("KV-Operation") == "DEL"
	if m.Subject != subject || (e.Op == "delete") != isDel || (e.Op != "delete" && string(m.Data) != e.Value) {
		return fmt.Sprintf("%s %s=%q acknowledged at revision %d by client %d: revision %d holds %s=%q (KV-Operation %q)",
			e.Op, e.Key, e.Value, e.Rev, e.Client, e.Rev, m.Subject, m.Data, m.Header.Get("KV-Operation")), nil
	}
	return "", nil
}

// retry runs a read up to 5 times (2 s each) while it times out or gets
// no answer; a definite answer (found, not found) ends it.
func retry(read func(ctx context.Context) (*jetstream.RawStreamMsg, error)) (*jetstream.RawStreamMsg, error) {
	var err error
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var m *jetstream.RawStreamMsg
		m, err = read(ctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
			return m, err
		}
	}
	return nil, err
}

// waitApplied polls, for at most 30 s, until a direct get through this
// node finds revision rev, the stream's last (never superseded: it is
// its key's latest): a follower can be current in the leader's stream
// info before it has applied everything.
func waitApplied(s jetstream.Stream, rev uint64) error {
	if rev == 0 {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.GetMsg(ctx, rev)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("revision %d (the stream's last) not readable within 30s: %w", rev, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLocal polls the node's /jsz, for at most 30 s, until its own
// replica of the bucket's stream has last sequence last; on failure it
// says what it saw last.
func waitLocal(n *cluster.Node, last uint64) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, found, err := n.LocalLastSeq("KV_" + bucket)
		seen := fmt.Sprintf("last_seq %d, want %d", got, last)
		switch {
		case err != nil:
			seen = err.Error()
		case !found:
			seen = "stream not listed"
		case got == last:
			return seen, nil
		}
		if time.Now().After(deadline) {
			return seen + " after 30s", fmt.Errorf("%s: %s", n.Name, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
