package jsfront

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/cairn-db/cairn/internal/jsapi"
)

// ReplicaMeta is a Meta that places streams on more than one node
// (num_replicas R > 1, issue 15) and runs the metadata group's
// leadership. With it, a stream created with R > 1 is placed on R
// nodes, and requests about it go to its group's leader.
type ReplicaMeta interface {
	Meta
	// Peers returns the server names of the peers of a replicated
	// stream, as applied on this node; false for an R1 stream or an
	// unknown one.
	Peers(account, stream string) ([]string, bool)
	// PlaceReplicas proposes peers (distinct, the first the preferred
	// first leader) as stream's peers and returns the holder the group
	// committed: peers[0], or another node's when the name was taken
	// first.
	PlaceReplicas(ctx context.Context, account, stream string, peers []string, cfg json.RawMessage) (holder string, err error)
	// StepDown hands the metadata group's leadership to another member;
	// an error when this node does not lead it or nobody took over.
	StepDown(ctx context.Context) error
	// Leader returns the metadata group's leader, "" when none is known.
	Leader() string
}

// LeaderLocal is a Local that runs replicas of streams.
type LeaderLocal interface {
	Local
	// Leads reports whether this node runs a replica of stream, and
	// whether that replica leads the stream's group right now.
	Leads(account, stream string) (replicated, leader bool)
}

// ErrNoSuitablePeers is nats-server's answer to a creation asking for
// more replicas than the cluster has nodes (JSClusterNoPeersErrF,
// observed on a 3-node nats-server 2.15.2 with num_replicas 4 and 5).
// jsapi's error table has no 10005; it is defined here as the front
// alone counts the nodes.
var ErrNoSuitablePeers = &jsapi.APIError{Code: 400, ErrCode: 10005, Description: "no suitable peers for placement"}

// maxReplicas is the most replicas a stream may ask for; more is
// refused by the local API (10052 "maximum replicas is 5").
const maxReplicas = 5

// numReplicas returns the num_replicas of a STREAM.CREATE body, 0 when
// it has none or does not decode.
func numReplicas(data []byte) int {
	var c struct {
		Replicas int `json:"num_replicas"`
	}
	if json.Unmarshal(data, &c) != nil {
		return 0
	}
	return c.Replicas
}

// replicaPeers returns the peers of a replicated stream, nil for an R1
// stream, an unknown one or a Meta without replicas.
func (f *Front) replicaPeers(account, stream string) []string {
	rm, ok := f.opts.Meta.(ReplicaMeta)
	if !ok || stream == "" {
		return nil
	}
	peers, ok := rm.Peers(account, stream)
	if !ok || len(peers) < 2 {
		return nil
	}
	return peers
}

// leads reports whether this node runs a replica of stream and leads
// its group.
func (f *Front) leads(account, stream string) (replicated, leader bool) {
	ll, ok := f.opts.Local.(LeaderLocal)
	if !ok || stream == "" {
		return false, false
	}
	return ll.Leads(account, stream)
}

// mine reports whether stream is placed at all, and whether on this
// node (its R1 holder, or one of its peers).
func (f *Front) mine(account, stream string) (placed, here bool) {
	node, ok := f.opts.Meta.Holder(account, stream)
	if !ok {
		return false, false
	}
	return true, node == f.opts.Name || slices.Contains(f.replicaPeers(account, stream), f.opts.Name)
}

// routeReplicated routes r, about stream, when stream is replicated,
// and reports whether it did: the local API answers when this node
// leads the stream's group; otherwise the request goes to every other
// peer, and the leader among them answers (the others drop it, see
// dropAtFollower), as only the stream leader answers on nats-server.
func (f *Front) routeReplicated(r *request, stream string) bool {
	peers := f.replicaPeers(r.account, stream)
	if peers == nil {
		return false
	}
	replicated, leader := f.leads(r.account, stream)
	if leader || (replicated && (strings.HasPrefix(r.subject, "$JS.API.CONSUMER.CREATE.") || f.consumerHere(r.account, stream, r.subject))) {
		// A consumer (Cairn's are all ephemeral: watchers, ordered
		// consumers) is created on the client's own node when it runs
		// a replica: it delivers from that replica, as entries are
		// applied, and goes on when the leader dies.
		r.local(r.caller, r.hdr)
		f.served(r.account, r.subject, stream)
		return true
	}
	hdr := withCaller(r.hdr, jsapi.RecordCaller(r.caller, r.subject, r.data))
	sent := false
	for _, p := range peers {
		if p != f.opts.Name && f.opts.Net.SendTo(p, r.account, []byte(r.subject), []byte(r.reply), hdr, r.data) {
			sent = true
		}
	}
	if !sent {
		e := jsapi.ErrClusterUnavailable
		if strings.HasPrefix(r.subject, "$JS.API.STREAM.INFO.") {
			e = jsapi.ErrStreamOffline
		}
		f.fail(r, e)
	}
	return true
}

// dropAtFollower reports whether a request that came over a route must
// go unanswered here: it names a replicated stream of which this node
// runs a replica that does not lead (the leader, which got the same
// request, answers), or of which it is a peer whose replica is not
// started yet (except a create: the holder's API must see it). A node
// that is no peer answers as before.
func (f *Front) dropAtFollower(account, subject string) bool {
	k, stream := classify(subject)
	if k != kindStream {
		// A creation is sent to one node, the holder it was placed
		// on, whose replica may already run (the placement started it)
		// without leading yet: it answers (an identical creation is
		// answered as one), or nobody would.
		return false
	}
	if _, ok := f.opts.Local.(LeaderLocal); !ok {
		return false // cannot tell a leader: every node answers
	}
	replicated, leader := f.leads(account, stream)
	if !replicated && k == kindStream && slices.Contains(f.replicaPeers(account, stream), f.opts.Name) {
		// A peer whose replica does not run yet (just placed, or
		// loaded and not attached): the leader answers, not this
		// node's "stream not found".
		return true
	}
	return replicated && !leader
}

// unknownHere reports whether subject is a request about a stream this
// node neither holds nor knows a placement of, with a metadata group
// that can catch up (SyncMeta). The peer that forwarded it knew the
// stream: this node's metadata may be behind (it just restarted and has
// not applied its log yet), and its "stream not found" would be a lie
// that the client takes as the answer, the leader's coming second.
func (f *Front) unknownHere(account, subject string) bool {
	k, stream := classify(subject)
	if k != kindStream || stream == "" {
		return false
	}
	if _, ok := f.opts.Meta.(SyncMeta); !ok {
		return false
	}
	if _, held := f.opts.Local.StreamConfig(account, stream); held {
		return false
	}
	if _, ok := f.opts.Meta.Holder(account, stream); ok {
		return false
	}
	return f.replicaPeers(account, stream) == nil
}

// answerWhenSynced runs answer with copies of the request once this
// node's metadata is up to date (Raft's read index), off the route's
// reader; a node that cannot confirm that within the timeout, or past
// the bound on requests in progress, stays silent (another node
// answers, or the client times out).
func (f *Front) answerWhenSynced(subject, reply string, hdr, data []byte, answer func(subject, reply string, hdr, data []byte)) {
	select {
	case f.gathers <- struct{}{}:
	default:
		return
	}
	if !f.enter() {
		<-f.gathers
		return
	}
	hdr, data = bytes.Clone(hdr), bytes.Clone(data)
	go func() {
		defer func() { <-f.gathers; f.wg.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
		defer cancel()
		if f.opts.Meta.(SyncMeta).Sync(ctx) != nil {
			return
		}
		answer(subject, reply, hdr, data)
	}()
}

// placeReplicas places a stream created with num_replicas > 1 on that
// many connected nodes and sends r to the holder; false when r does
// not ask for replicas (or the Meta cannot place them).
func (f *Front) placeReplicas(ctx context.Context, r *request, stream string, cfg json.RawMessage) bool {
	rm, ok := f.opts.Meta.(ReplicaMeta)
	if !ok || !strings.HasPrefix(r.subject, "$JS.API.STREAM.CREATE.") {
		return false
	}
	want := numReplicas(r.data)
	if want < 2 || want > maxReplicas {
		return false // R1, or refused by the local API
	}
	nodes := f.chooseN(want)
	if len(nodes) < want {
		f.fail(r, ErrNoSuitablePeers)
		return true
	}
	holder, err := rm.PlaceReplicas(ctx, r.account, stream, nodes, cfg)
	if err != nil {
		f.opts.Logf("JetStream: placing stream %q of account %q on %v: %v", stream, r.account, nodes, err)
		f.fail(r, jsapi.ErrClusterUnavailable)
		return true
	}
	f.sendOrRun(r, holder, stream)
	return true
}

// chooseN returns up to n distinct connected nodes (this one included),
// the least loaded first, ties broken at random.
func (f *Front) chooseN(n int) []string {
	load := f.opts.Meta.Load()
	nodes := []string{f.opts.Name}
	for _, p := range f.opts.Net.Peers() {
		if !slices.Contains(nodes, p) {
			nodes = append(nodes, p)
		}
	}
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	slices.SortStableFunc(nodes, func(a, b string) int { return load[a] - load[b] })
	return nodes[:min(n, len(nodes))]
}

// responseType is the type of an answer to subject.
func responseType(subject string) string {
	switch {
	case subject == subjMetaStepDown:
		return typeMetaStepDown
	case strings.HasPrefix(subject, "$JS.API.STREAM.LEADER.STEPDOWN."):
		return "io.nats.jetstream.api.v1.stream_leader_stepdown_response"
	case strings.HasPrefix(subject, "$JS.API.STREAM.PEER.REMOVE."):
		return "io.nats.jetstream.api.v1.stream_remove_peer_response"
	}
	return jsapi.ResponseType(subject)
}

// ConsumerLocal is a Local that tells which consumers run here: on a
// replicated stream a consumer runs on the replica it was created on
// (the client's node), and its requests are answered there.
type ConsumerLocal interface {
	Local
	// HasConsumer reports whether consumer of stream runs on this node.
	HasConsumer(account, stream, consumer string) bool
}

// consumerHere reports whether subject is a request about one consumer
// of stream ($JS.API.CONSUMER.INFO|DELETE.<stream>.<consumer>) that
// runs on this node.
func (f *Front) consumerHere(account, stream, subject string) bool {
	cl, ok := f.opts.Local.(ConsumerLocal)
	if !ok {
		return false
	}
	rest, ok := strings.CutPrefix(subject, "$JS.API.CONSUMER.")
	if !ok {
		return false
	}
	verb, rest, _ := strings.Cut(rest, ".")
	if verb != "INFO" && verb != "DELETE" {
		return false
	}
	s, name, ok := strings.Cut(rest, ".")
	return ok && s == stream && name != "" && !strings.Contains(name, ".") && cl.HasConsumer(account, stream, name)
}
