package jsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/cairn-db/cairn/internal/replica"
	"github.com/cairn-db/cairn/internal/store"
)

// Replicated streams (num_replicas > 1, docs/REPLICATION.md): the store
// stream is wrapped by Options.Replicate into a Replicated, whose
// writes go through the stream's Raft group. Every replica runs a
// stream here, but only the group's leader subscribes to the stream's
// subjects and direct get subjects: interest moves with leadership.
// Reads that must be linearizable (STREAM.MSG.GET, direct gets,
// STREAM.INFO) wait for the replica's read barrier first.

// Replicated is a stream whose mutations go through a Raft group
// (internal/replica.Stream).
type Replicated interface {
	store.Stream
	// IsLeader reports whether this replica leads the group now.
	IsLeader() bool
	// Leader returns the leader's server name, "" when none is known.
	Leader() string
	// OnLeader registers fn, called (never concurrently) with true once
	// this replica leads and applied everything committed before, with
	// false when it stops leading.
	OnLeader(fn func(leader bool))
	// Barrier returns once a read of this replica sees every write
	// acknowledged before the call (an error when a quorum cannot
	// confirm it).
	Barrier(ctx context.Context) error
	// StepDown hands the leadership to another current replica.
	StepDown() error
	// Info returns the group's leader and replicas.
	Info() replica.Info
	// SetPeers replaces the members the group should have (Raft ids
	// to server names); its leader changes the group to match.
	SetPeers(peers map[uint64]string) error
	// Stop stops the replica's group (its log stays).
	Stop()
	// Remove stops the group and deletes its log.
	Remove() error
}

var _ Replicated = (*replica.Stream)(nil)

// ReplicateFunc attaches a local driven store stream to its group.
// fresh: the stream was just created, or made replicated, by a request
// to this server (it may start the group); otherwise this server joins
// a group that exists (a replica placed here, one loaded at start).
type ReplicateFunc func(cfg *StreamConfig, st store.Stream, fresh bool) (Replicated, error)

// PeerInfo is one replica in a stream info's cluster block.
type PeerInfo struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
}

// replicated reports whether cfg asks for a replicated stream on this
// server.
func (a *API) replicated(cfg *StreamConfig) bool {
	return cfg.Replicas > 1 && a.opts.Replicate != nil
}

// leaderChanged subscribes the stream when this replica leads, with
// the configuration its store holds (updates applied while it followed
// reached only the store), and unsubscribes it when it stops leading.
func (s *stream) leaderChanged(leader bool) {
	s.lead.Lock()
	defer s.lead.Unlock()
	if s.lead.stopped {
		return
	}
	if !leader {
		if s.lead.subscribed {
			s.unsubscribe()
			s.lead.subscribed = false
		}
		return
	}
	var m meta
	if err := json.Unmarshal(s.st.Meta(), &m); err == nil {
		if err := s.applyConfig(&m.Config); err != nil {
			s.api.opts.Logf("JetStream: stream %s: %v", s.name, err)
		}
	}
	if s.lead.subscribed {
		s.unsubscribe()
	}
	if err := s.subscribe(); err != nil {
		s.api.opts.Logf("JetStream: stream %s: %v", s.name, err)
		s.unsubscribe()
		return
	}
	s.lead.subscribed = true
}

// refreshSubscriptions replaces the subscriptions of a replicated
// stream after a configuration change, if it has any.
func (s *stream) refreshSubscriptions() error {
	s.lead.Lock()
	defer s.lead.Unlock()
	if s.lead.stopped || !s.lead.subscribed {
		return nil
	}
	return s.resubscribe()
}

// barrier waits until a read of a replicated stream is linearizable;
// nil at once for a stream of one replica.
func (s *stream) barrier() error {
	if s.rep == nil {
		return nil
	}
	return s.rep.Barrier(context.Background())
}

// clusterInfo is the stream's cluster block in a stream info.
func (s *stream) clusterInfo() *ClusterInfo {
	a := s.api
	if s.rep == nil {
		return &ClusterInfo{Name: a.opts.ClusterName, Leader: a.opts.ServerName}
	}
	in := s.rep.Info()
	ci := &ClusterInfo{Name: a.opts.ClusterName, Leader: in.Leader}
	for _, p := range in.Replicas {
		ci.Replicas = append(ci.Replicas, PeerInfo{Name: p.Name, Current: p.Current, Offline: p.Offline, Active: p.Active, Lag: p.Lag})
	}
	return ci
}

// Leads reports whether the named stream is replicated here and
// whether this replica leads it.
func (a *API) Leads(name string) (replicated, leader bool) {
	s := a.lookup(name)
	if s == nil || s.rep == nil {
		return false, false
	}
	return true, s.rep.IsLeader()
}

// Replica returns the group of a replicated stream running here.
func (a *API) Replica(name string) (Replicated, bool) {
	s := a.lookup(name)
	if s == nil || s.rep == nil {
		return nil, false
	}
	return s.rep, true
}

// EnsureReplica makes this server a replica of the replicated stream
// cfg (a stream configuration in JSON, as the metadata group recorded
// it) describes: it creates the local stream when there is none, or
// attaches a stream loaded from the store to its group. Nothing when
// the stream runs already. replicas is the placement's number of peers
// (the recorded configuration may predate a change of num_replicas).
func (a *API) EnsureReplica(cfgJSON json.RawMessage, replicas int) error {
	var in StreamConfig
	if err := json.Unmarshal(cfgJSON, &in); err != nil {
		return fmt.Errorf("jsapi: replica configuration: %w", err)
	}
	in.Replicas = replicas
	cfg, e := normalizeAs(in, a.opts.Replicate != nil)
	if e != nil {
		return fmt.Errorf("jsapi: replica of stream %q: %s", in.Name, e.Description)
	}
	if !a.replicated(&cfg) {
		return fmt.Errorf("jsapi: stream %q is not replicated", cfg.Name)
	}
	if a.lookup(cfg.Name) != nil {
		return nil
	}
	a.ctl.Lock()
	st, dormant := a.dormant[cfg.Name]
	if dormant {
		defer a.ctl.Unlock()
		if a.lookup(cfg.Name) != nil {
			return nil
		}
		var m meta
		if err := json.Unmarshal(st.Meta(), &m); err != nil {
			return &store.CorruptError{Stream: st.Name(), Problem: "unreadable stream configuration", Err: err}
		}
		s, err := a.openReplica(st, m.Config, m.Created, false)
		if err != nil {
			return err
		}
		delete(a.dormant, cfg.Name)
		a.mu.Lock()
		a.mu.streams[s.name] = s
		a.mu.Unlock()
		a.replaceSubjects(nil, m.Config.Subjects)
		return nil
	}
	a.ctl.Unlock()
	if _, e := a.createStreamAs(cfg, false); e != nil && e != errStreamNameExist {
		return fmt.Errorf("jsapi: replica of stream %q: %s", cfg.Name, e.Description)
	}
	return nil
}

// openReplica attaches a driven store stream to its group and opens it.
func (a *API) openReplica(st store.Stream, cfg StreamConfig, created time.Time, fresh bool) (*stream, error) {
	rep, err := a.opts.Replicate(&cfg, st, fresh)
	if err != nil {
		return nil, fmt.Errorf("jsapi: stream %s: %w", cfg.Name, err)
	}
	s, err := a.openStream(rep, cfg, created)
	if err != nil {
		rep.Stop()
		return nil, err
	}
	return s, nil
}

// ReplicaNames returns the replicated streams this server has, running
// or loaded from the store and not attached yet, sorted.
func (a *API) ReplicaNames() []string {
	var out []string
	a.ctl.Lock()
	for name := range a.dormant {
		out = append(out, name)
	}
	a.ctl.Unlock()
	a.mu.RLock()
	for name, s := range a.mu.streams {
		if s.rep != nil {
			out = append(out, name)
		}
	}
	a.mu.RUnlock()
	sort.Strings(out)
	return out
}

// DropReplica deletes a replicated stream this server no longer
// replicates (the metadata group removed it, or placed it elsewhere).
func (a *API) DropReplica(name string) error {
	a.ctl.Lock()
	st, dormant := a.dormant[name]
	if dormant {
		delete(a.dormant, name)
		a.ctl.Unlock()
		_ = st
		return a.st.DeleteStream(name)
	}
	a.ctl.Unlock()
	if s := a.lookup(name); s == nil || s.rep == nil {
		return nil
	}
	if e := a.deleteStream(name); e != nil && e != errStreamNotFound {
		return fmt.Errorf("jsapi: dropping replica %q: %s", name, e.Description)
	}
	return nil
}

// typeStreamLeaderStepdown is the answer to a stream leader step-down.
const typeStreamLeaderStepdown = "io.nats.jetstream.api.v1.stream_leader_stepdown_response"

// Errors of the replicated streams' endpoints (nats-server's).
var (
	errClusterRequired      = &APIError{503, 10010, "JetStream clustering support required"}
	errReplicasNotUpdatable = &APIError{400, 10061, "Replicas configuration can not be updated"}
	// errNoQuorum: a replicated write not applied in time (never sent
	// to a publisher: it may still be applied).
	errNoQuorum = &APIError{503, 10008, "JetStream system temporarily unavailable"}
	// errBusy: the same error, for a publish the leader refused without
	// proposing it (too many in flight: replica.ErrBusy). Unlike
	// errNoQuorum it is answered: the message was certainly not stored.
	errBusy = &APIError{503, 10008, "JetStream system temporarily unavailable"}
)

func errRaftGeneralF(err error) *APIError { return &APIError{500, 10041, err.Error()} }

// streamLeaderStepdown answers $JS.API.STREAM.LEADER.STEPDOWN.<stream>.
func (a *API) streamLeaderStepdown(req *request) {
	s := a.lookup(token(req.subject, 5)) // $JS.API.STREAM.LEADER.STEPDOWN.<stream>
	switch {
	case s == nil:
		a.respondError(req, typeStreamLeaderStepdown, errStreamNotFound)
		return
	case a.opts.ClusterName == "":
		a.respondError(req, typeStreamLeaderStepdown, errClusterRequired)
		return
	case s.rep != nil:
		if err := s.rep.StepDown(); err != nil {
			a.respondError(req, typeStreamLeaderStepdown, errRaftGeneralF(err))
			return
		}
	}
	a.respond(req, &successResponse{apiResponse: apiResponse{Type: typeStreamLeaderStepdown}, Success: true}, false)
}

// waitLeader waits, after a creation, until a replicated stream's
// group has a leader (bounded), so that the client's next request
// (INFO, a put) finds one.
func (s *stream) waitLeader() {
	w, ok := s.rep.(interface{ WaitLeader(context.Context) bool })
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	w.WaitLeader(ctx)
	cancel()
}

// followerReady prepares a replica to serve a consumer: it waits for
// the read barrier (the consumer starts from everything acknowledged
// before its creation) and, on a follower, takes the configuration the
// store holds (updates reach a follower's store only).
func (s *stream) followerReady() error {
	if s.rep == nil {
		return nil
	}
	if err := s.barrier(); err != nil {
		return err
	}
	if s.rep.IsLeader() {
		return nil
	}
	var m meta
	if err := json.Unmarshal(s.st.Meta(), &m); err != nil {
		return err
	}
	if !sameConfig(m.Config, s.config()) {
		return s.applyConfig(&m.Config)
	}
	return nil
}
