package jsapi

import (
	"errors"
	"io"

	"github.com/cairn-db/cairn/internal/store"
)

// Changing where a stream's replicas are (docs/REPLICATION.md): a
// stream update changing num_replicas, and STREAM.PEER.REMOVE. The
// placement is the metadata group's (Options.Placer); this server's
// part, as the stream's leader, is its own copy:
//
//	1 → n   the R1 store stream becomes a driven one (same messages,
//	        Applied 1) whose group starts from it alone and adds the
//	        new peers, which fetch the stream from it;
//	n → 1   the group shrinks to this replica, the placement becomes
//	        R1 here (the others delete their replicas), and the store
//	        stream becomes a plain one;
//	n → m   the placement gains or loses peers; the group's leader
//	        adds or removes members to match.

// Placer moves a replicated stream's replicas (the daemon, on a
// cluster).
type Placer interface {
	// Resize gives stream n replicas (n >= 1), keeping keep among
	// them; ErrNoPeers when there are not enough nodes.
	Resize(stream string, n int, keep string) error
	// Replace puts another node in peer's place; ErrNoPeers when no
	// node is left to take it.
	Replace(stream, peer string) error
}

// ErrNoPeers: not enough nodes for the replicas asked for.
var ErrNoPeers = errors.New("jsapi: no suitable peers for placement")

var (
	errNoSuitablePeers = &APIError{400, 10005, "no suitable peers for placement"}
	errPeerRemap       = &APIError{503, 10075, "peer remap failed"}
	errPeerNotMember   = &APIError{400, 10040, "peer not a member"}
)

// typeStreamRemovePeer is the answer to STREAM.PEER.REMOVE.
const typeStreamRemovePeer = "io.nats.jetstream.api.v1.stream_remove_peer_response"

func placerError(err error) *APIError {
	if errors.Is(err, ErrNoPeers) {
		return errNoSuitablePeers
	}
	return errStreamUpdateF(err)
}

// changeReplicas changes s's replica count from old's to cfg's and
// returns the stream as it now is (another *stream when the store
// stream was converted). Called under a.ctl, before cfg is applied.
func (a *API) changeReplicas(s *stream, old, cfg *StreamConfig) (*stream, *APIError) {
	p := a.opts.Placer
	if p == nil || a.opts.Replicate == nil {
		return nil, errReplicasNotUpdatable
	}
	self := a.opts.ServerName
	switch {
	case old.Replicas > 1 && cfg.Replicas > 1:
		if err := p.Resize(s.name, cfg.Replicas, self); err != nil {
			return nil, placerError(err)
		}
		return s, nil
	case cfg.Replicas > 1:
		if err := p.Resize(s.name, cfg.Replicas, self); err != nil {
			return nil, placerError(err)
		}
		return a.convert(s, old, true)
	default:
		// The leader keeps the stream: once the placement says R1 here
		// the others delete their replicas (they stop their members,
		// so none is elected meanwhile) and this one becomes plain.
		if s.rep == nil || !s.rep.IsLeader() {
			return nil, ErrClusterUnavailable
		}
		if err := s.barrier(); err != nil {
			return nil, ErrClusterUnavailable
		}
		if err := p.Resize(s.name, 1, self); err != nil {
			return nil, placerError(err)
		}
		return a.convert(s, old, false)
	}
}

// convert rebuilds s's store stream as a driven one (replicated) or a
// plain one, with the same messages, and opens it in s's place. Its
// consumers are stopped (ordered consumers start again on their own).
func (a *API) convert(s *stream, cfg *StreamConfig, replicated bool) (*stream, *APIError) {
	s.stop()
	if s.rep != nil {
		if err := s.rep.Remove(); err != nil {
			a.opts.Logf("JetStream: stream %s: removing its group: %v", s.name, err)
		}
	}
	if a.consumers != nil {
		// Stopped off a.ctl, as deleteStream does.
		go a.consumers.DetachStream(s.name)()
	}
	st, err := a.rebuild(s.name, replicated)
	if err != nil {
		return nil, errStreamUpdateF(err)
	}
	var ns *stream
	if replicated {
		ns, err = a.openReplica(st, *cfg, s.created, true)
	} else {
		ns, err = a.openStream(st, *cfg, s.created)
	}
	if err != nil {
		return nil, errStreamUpdateF(err)
	}
	a.mu.Lock()
	a.mu.streams[s.name] = ns
	a.mu.Unlock()
	if replicated {
		ns.waitLeader()
	}
	return ns, nil
}

// rebuild replaces the named store stream by a copy that is driven (at
// log index 1) or not.
func (a *API) rebuild(name string, driven bool) (store.Stream, error) {
	rr, err := a.st.ReadReplica(name)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	h := rr.Header()
	h.Config.Driven = driven
	h.Applied = 0
	if driven {
		h.Applied = 1
	}
	im, err := a.st.NewReplicaImport(h)
	if err != nil {
		return nil, err
	}
	for {
		m, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = im.Add(m)
		}
		if err != nil {
			im.Abort()
			return nil, err
		}
	}
	return im.Commit()
}

// streamRemovePeer answers $JS.API.STREAM.PEER.REMOVE.<stream>
// {"peer":"<server>"}: another node takes the peer's place (nats-server
// refuses with 10075 when there is none).
func (a *API) streamRemovePeer(req *request) {
	var pr struct {
		Peer string `json:"peer"`
	}
	if isEmptyRequest(req.data) {
		a.respondError(req, typeStreamRemovePeer, errBadRequest)
		return
	}
	if err := decodeRequest(req.data, &pr); err != nil {
		a.respondError(req, typeStreamRemovePeer, errInvalidJSONF(err))
		return
	}
	if pr.Peer == "" {
		a.respondError(req, typeStreamRemovePeer, errBadRequest)
		return
	}
	s := a.lookup(token(req.subject, 5)) // $JS.API.STREAM.PEER.REMOVE.<stream>
	switch {
	case a.opts.ClusterName == "":
		a.respondError(req, typeStreamRemovePeer, errClusterRequired)
		return
	case s == nil:
		a.respondError(req, typeStreamRemovePeer, errStreamNotFound)
		return
	}
	members := []string{a.opts.ServerName}
	if s.rep != nil {
		in := s.rep.Info()
		members = []string{in.Leader}
		for _, r := range in.Replicas {
			members = append(members, r.Name)
		}
	}
	isMember := false
	for _, m := range members {
		isMember = isMember || m == pr.Peer
	}
	if !isMember {
		a.respondError(req, typeStreamRemovePeer, errPeerNotMember)
		return
	}
	if s.rep == nil || a.opts.Placer == nil {
		a.respondError(req, typeStreamRemovePeer, errPeerRemap)
		return
	}
	if err := a.opts.Placer.Replace(s.name, pr.Peer); err != nil {
		a.opts.Logf("JetStream: stream %s: removing peer %s: %v", s.name, pr.Peer, err)
		a.respondError(req, typeStreamRemovePeer, errPeerRemap)
		return
	}
	a.respond(req, &successResponse{apiResponse: apiResponse{Type: typeStreamRemovePeer}, Success: true}, false)
}
