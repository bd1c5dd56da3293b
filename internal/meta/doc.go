// Package meta is the cluster's metadata group (issue 14, point 4): a
// Raft group of which every node of a cluster is a member, holding which
// node holds each stream (R1 placement), or which nodes run its replicas
// (R3, R5: issue 15), and the stream's definition, so that two nodes can
// never create two different streams of one name.
// The Raft glue (durable log, node loop, transport frames) is
// internal/repl, which the per-stream groups of issue 15 will share;
// this package adds the state machine, the API and the rules by which
// nodes bootstrap and join.
//
// # Data model
//
// The state machine (fsm.go) holds, per account, stream name →
// Assignment{Node, Config, Created, Revision, Peers, Group, PeerSeq},
// and the members' Raft id → server name (from the Context of the
// configuration changes). Entries are JSON commands: assign (the first
// committed assignment of a name wins; later ones return it unchanged),
// unassign and config (both only when the node named is the stream's
// Node or one of its Peers), and peers (replicas.go: replaces the peer
// set when the assignment's Revision is still the one the proposer read,
// else ErrRevision; for STREAM.PEER.REMOVE and replica count changes).
// Snapshots are the whole state as JSON, taken every
// Options.SnapshotEvery applied entries; they compact the log. A
// snapshot from before replication (no peers, group) loads as R1.
//
// A replicated stream (more than one peer) is its own Raft group on its
// peers (internal/repl, docs/REPLICATION.md). Applying its assign
// numbers the peers 1..R in the order given (ids within the stream's
// group; the proposer's ids are ignored), sets Group to the entry's
// index (the same on every node, never 0, which is this group's, and a
// new group for a stream deleted and created again) and Node to the
// first peer, the preferred first leader, so that R1 code reading Node
// still finds a node that runs the stream. A peers entry keeps the id
// of a peer already in the group and gives a new one PeerSeq+1, so an
// id is never reused within a group; one peer makes the stream R1 on
// it (Group 0), more than one on an R1 stream starts a new group at
// that entry's index. Revision moves with every config and peers
// entry. Load counts a stream once for each node it lives on.
//
// StepDown ($JS.API.META.LEADER.STEPDOWN) hands this group's
// leadership to a connected member (StepDownTo: a named one) with
// Raft's leadership transfer, which first brings the member's log up to
// date and then has it campaign; it returns ErrNotLeader on a follower
// and ErrNoSuccessor when nobody took over within an election timeout
// per candidate (a node alone has nobody). Reads (Lookup, Streams, Members) are
// the state applied on this node: no Raft round trip, possibly behind
// the leader. A writer (Assign, Unassign, SetConfig) waits until its
// entry is applied on its own node, so it reads its own write.
//
// A node's Raft id is FNV-64a of its server name. An id of 0, or two
// names with one id (in a bootstrap view or against the members), is
// refused with an error in the log.
//
// # Frames
//
// The Transport carries repl frames (version, kind, cluster id, group
// id, payload) by server name. Kinds: Raft messages (group 0 is this
// group), hellos and join requests (JSON). A node drops Raft frames of
// a cluster id other than its own: two groups that meet never exchange
// a vote or an entry.
//
// # Bootstrap and joining
//
// A node with a log resumes its group at Open (raft.RestartNode), with
// no further rule. A node with an empty log has no group yet and must
// not start a second one inside the cluster. Every node sends each
// connected peer a hello every 3 ticks while it has no group (and every
// 10 ticks, or at once to a node without a group, once it has one):
// without a group, its view = its sorted name plus its connected
// peers'; with one, the cluster id (in the frame), the members and the
// leader. Then, each tick, a node without a group:
//
//  1. joins if a connected peer's hello names a group (exactly one: two
//     different groups seen is an error, logged, and it joins neither).
//     Joining records the cluster id durably, starts Raft on the empty
//     log (raft.RestartNode) and sends join requests to the peers of
//     that group until it sees itself among the members; the leader
//     proposes ConfChangeAddNode with the joiner's name (at most once
//     per 20 ticks per joiner) unless it is a member already (a node
//     that was in the initial peer list but saw a peer's group first
//     simply waits for the log).
//  2. otherwise bootstraps (raft.StartNode with its view as the peers,
//     cluster id = FNV-64a of the view) when all hold:
//     SeedsReady() is true; its view has not changed for 15 ticks
//     (1.5 s); and for every peer in the view its latest hello is
//     recent (at most 9 ticks old), arrived after the view settled,
//     comes from a node without a group and gives the same view. So all
//     the initial members start with the same peer list and cluster id.
//
// Why two groups cannot overlap: X bootstraps view V only after hearing
// every member of V report V; Y bootstraps W ≠ V containing X only after
// hearing X report W. X reported W before its own view settled on V and
// then sends V every 3 ticks until it bootstraps, after which it
// reports its group (which Y joins). With hellos in order per pair (one
// route, one TCP connection) and delivered within about a second, Y
// cannot still hold X's W when its own window of 15 ticks closes; a
// route that drops and returns changes both views and restarts both
// windows. Groups with no common node are prevented by the seeds: give
// every node the same --routes, so none bootstraps before it reaches
// all of them, or use the seed-node topology (n1 without routes forms
// alone after 1.5 s; n2, n3 with --routes n1 join it). A node whose
// seeds never answer waits (it still joins a group it sees).
//
// Two groups that do meet (clusters formed apart, then connected) are
// never merged: each node logs an error naming the peer, both cluster
// ids and both member lists (again every 600 ticks), and both go on.
// Members are never removed automatically.
//
// Known limits: a node that lost its log (a wiped directory, a restart
// of a memory-only server) comes back as an empty node under its old id
// and joins as the member it was; Raft assumes a member keeps its log
// and its vote. So a joiner grants no vote until it has applied what a
// leader's log held when it first reached it (catchup.go), and the
// leader logs an error naming the member that asked to join again;
// without a leader that reaches it, the group may stay without one
// (unavailable rather than losing a committed entry). The remedy
// (remove and re-add under a new id) is for a later issue. A
// write whose context ends returns ErrUnavailable, and its entry may
// still commit (Lookup tells); until then it is proposed again when the
// leader changes or after an election timeout, and applied once
// (internal/repl, "Proposals").
//
// # Example
//
// Three nodes started together, each with the other two as routes:
// each sees the view [n1 n2 n3] for 1.5 s and hears the same view from
// both peers, so all three call raft.StartNode with peers n1, n2, n3
// and cluster id FNV("n1\x00n2\x00n3"). n2 then receives STREAM.CREATE
// for KV_b in account A:
//
//	a, err := g.Assign(ctx, meta.Assignment{Account: "A", Stream: "KV_b", Node: "n2", Config: cfg})
//	// err == nil, a.Node == "n2": create the stream locally.
//	// a.Node == "n3": n3 won a concurrent create; answer as an existing stream.
//	// errors.Is(err, meta.ErrUnavailable): no quorum; refuse the create.
//
// Every node then finds it with g.Lookup("A", "KV_b") once applied, and
// OnChange tells the daemon that something changed. A bucket created
// with --replicas 3, placed by n1 on n2, n3, n1 at entry 42:
//
//	a, err := g.Assign(ctx, meta.Assignment{Account: "A", Stream: "KV_r", Config: cfg,
//		Peers: []meta.Peer{{Name: "n2"}, {Name: "n3"}, {Name: "n1"}}})
//	// a.Peers == [{1 n2} {2 n3} {3 n1}], a.Group == 42, a.Node == "n2"
//	// Later, n3 removed and n4 added, unless it changed meanwhile:
//	a, err = g.SetPeers(ctx, "A", "KV_r", a.Revision, []meta.Peer{{Name: "n2"}, {Name: "n1"}, {Name: "n4"}})
//	// a.Peers == [{1 n2} {3 n1} {4 n4}], a.Group == 42
package meta
