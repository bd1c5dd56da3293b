package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Connect connects nats.go to node i only (no reconnecting elsewhere, so
// a client stays on its node; it does reconnect to the same node after a
// restart when reconnect is set).
func (c *Cluster) Connect(i int, reconnect bool) (*nats.Conn, error) {
	opts := []nats.Option{nats.Timeout(2 * time.Second), nats.DontRandomize(),
		nats.IgnoreDiscoveredServers(), nats.Name(fmt.Sprintf("r3bench-%s", c.Nodes[i].Name))}
	if reconnect {
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	} else {
		opts = append(opts, nats.NoReconnect())
	}
	nc, err := nats.Connect(c.Nodes[i].URL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.Nodes[i].Name, err)
	}
	return nc, nil
}

// WaitJetStream polls, on every node, until an account info request
// succeeds (the meta group has a leader and the node knows it), for at
// most d.
func (c *Cluster) WaitJetStream(d time.Duration) error {
	deadline := time.Now().Add(d)
	for i, n := range c.Nodes {
		// A node may refuse or botch a connection while the cluster
		// forms: retry until the deadline, saying so once.
		nc, err := c.Connect(i, false)
		for said := false; err != nil; nc, err = c.Connect(i, false) {
			if !said {
				fmt.Fprintf(os.Stderr, "cluster: %s %s: %v (retrying until JetStream is ready)\n", c.Kind, n.Name, err)
				said = true
			}
			if time.Now().After(deadline) {
				return err
			}
			if e := c.CheckAlive(); e != nil {
				return e
			}
			time.Sleep(50 * time.Millisecond)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return err
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			if err == nil {
				break
			}
			if e := c.CheckAlive(); e != nil {
				nc.Close()
				return e
			}
			if time.Now().After(deadline) {
				nc.Close()
				return fmt.Errorf("%s %s: JetStream not ready within %v: %w", c.Kind, n.Name, d, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		nc.Close()
	}
	return nil
}

// CreateBucket creates an R3 (replicas) KV bucket through js, retrying
// while JetStream reports itself temporarily unavailable (10008), times
// out (a meta leader being elected) or finds no suitable peers (10005:
// nats-server's meta leader has not yet heard from every server of a
// fresh cluster), for at most d. Any other refusal (e.g. a server that
// does not support replicas) is returned at once.
func CreateBucket(js jetstream.JetStream, cfg jetstream.KeyValueConfig, d time.Duration) (jetstream.KeyValue, error) {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		kv, err := js.CreateKeyValue(ctx, cfg)
		cancel()
		if err == nil {
			return kv, nil
		}
		var apiErr *jetstream.APIError
		retry := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
			errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
			(errors.As(err, &apiErr) && (apiErr.ErrorCode == 10008 || apiErr.ErrorCode == 10005 || apiErr.Code == 503))
		if !retry || time.Now().After(deadline) {
			return nil, fmt.Errorf("create bucket %s with %d replicas: %w", cfg.Bucket, cfg.Replicas, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StreamCluster is the cluster part of a stream's info.
func StreamCluster(js jetstream.JetStream, stream string, timeout time.Duration) (*jetstream.ClusterInfo, *jetstream.StreamState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, nil, err
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		return nil, &info.State, fmt.Errorf("stream %s: info has no cluster section", stream)
	}
	return info.Cluster, &info.State, nil
}

// WaitLeader polls the stream's info until it names a leader and every
// replica is current, for at most d, and returns the leader's index.
func (c *Cluster) WaitLeader(js jetstream.JetStream, stream string, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	var last string
	for {
		ci, _, err := StreamCluster(js, stream, time.Second)
		if err == nil && ci.Leader != "" && c.Index(ci.Leader) >= 0 {
			ok := len(ci.Replicas) == len(c.Nodes)-1
			for _, r := range ci.Replicas {
				ok = ok && r.Current && !r.Offline
			}
			if ok {
				return c.Index(ci.Leader), nil
			}
			last = fmt.Sprintf("leader %s, replicas %s", ci.Leader, Replicas(ci))
		} else if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("stream %s: no leader with all replicas current within %v (last: %s)", stream, d, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Replicas formats a cluster info's replicas for messages.
func Replicas(ci *jetstream.ClusterInfo) string {
	s := ""
	for _, r := range ci.Replicas {
		s += fmt.Sprintf("[%s current=%v offline=%v lag=%d active=%v]", r.Name, r.Current, r.Offline, r.Lag, r.Active)
	}
	return s
}
