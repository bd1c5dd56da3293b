// Package repl is Cairn's Raft glue, shared by every Raft group of a
// node: the cluster's metadata group (internal/meta) now, one group per
// replicated stream later (issue 15). Consensus itself is
// go.etcd.io/raft/v3; this package only does what that library leaves
// to its user:
//
//   - DB and Log (log.go): the durable log. One Pebble database per node
//     holds every group's HardState, entries, last snapshot and a few
//     application values, keys prefixed by group id. A Ready's entries
//     and HardState are written in one synced batch before its messages
//     are sent. An empty directory keeps nothing (memory-only servers).
//     What does not decode is an error matching ErrCorrupt, never a
//     panic.
//   - Node (node.go): one member's loop (tick, step, persist, send,
//     apply, advance: the raft README's contract), a raft.MemoryStorage
//     loaded from the Log at start, periodic snapshots of the FSM that
//     compact the log, and Propose, which waits until this node applied
//     the proposal and returns the FSM's result for it (see Proposals).
//   - Frame (envelope.go): the transport envelope. Every frame names its
//     kind, the metadata group's cluster id and a group id, so one route
//     between two nodes multiplexes all groups, and frames of another
//     cluster are dropped before they reach Raft.
//   - Host (host.go): many groups on one node (one per replicated
//     stream, issue 15) over one DB and one Transport. Receive routes
//     an incoming frame to its group's Node by the frame's group id
//     (frames of a group not running here, of another cluster or that
//     do not parse are dropped and counted: Stats); each group's
//     messages go to the server names of its own peer set
//     (GroupConfig.Peers, SetPeers). StartGroup, StopGroup (the log
//     stays) and RemoveGroup (the log is deleted). One goroutine and
//     one ticker per Host tick every group (their Nodes run with
//     Config.ExternalTick), so idle wakeups do not grow with the
//     number of groups; a group
//     costs only its Node's goroutines (Node.run and raft's own). Lock
//     order: Host.mu, then a Node's locks; a Node's goroutine never
//     takes Host.mu. The metadata group (MetaGroup) is not a Host
//     group: internal/meta runs its own Node.
//
// Why a package of its own rather than a type inside internal/meta: the
// stream groups of issue 15 will live next to the store and jsapi, and
// must reuse the log, the loop and the envelope without importing the
// metadata group's state machine or bootstrap rules; docs/STYLE.md
// names internal/repl as the home of the Raft glue. The package knows
// nothing of streams, names or bootstrap: an FSM and a Send function
// are all it is given.
//
// # Proposals
//
// Propose prefixes the data with a proposal id: the proposer (a random
// 64-bit incarnation of this Node instance) and a sequence from 1.
// Followers' proposals reach the leader as MsgProp (raft's forwarding).
// A proposal not applied within an election timeout, or when the leader
// changes, is made again, so one proposal may commit more than once;
// the dedup table (dedup.go), part of the replicated state and of every
// snapshot, makes each replica apply it once. When a committed entry
// carries an id this node is waiting for, FSM.Apply's result is handed
// to that caller. When the caller's context ends first, Propose returns
// ErrUnavailable and the entry may still commit.
//
// # Example
//
//	db, _ := repl.OpenDB(dir)
//	n, _ := repl.StartNode(repl.Config{ID: 1, Log: db.Log(repl.MetaGroup),
//		FSM: fsm, Send: send, Bootstrap: []raft.Peer{{ID: 1}}})
//	res, err := n.Propose(ctx, []byte(`{"op":"…"}`)) // res: fsm.Apply's result
//	n.Stop(); db.Close()
//
// With a Host (stream groups):
//
//	h, _ := repl.NewHost(repl.HostConfig{DB: db, Transport: tr})
//	n, _ := h.StartGroup(repl.GroupConfig{ID: 7, Self: 1, FSM: fsm,
//		Peers: map[uint64]string{2: "n2", 3: "n3"},
//		Bootstrap: []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}})
//	// the route's reader: h.Receive(fromServer, frame)
//	res, err := n.Propose(ctx, data)
//	h.Close() // stops every group, then closes db
package repl
