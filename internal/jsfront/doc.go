// Package jsfront is the JetStream API's front door on a cluster: it
// decides, for each $JS.API request a client of this node sends, which
// node answers it.
//
// A stream (R1, before replication) lives on one node, its holder,
// chosen when it is created and recorded in the metadata group
// (internal/meta) so that every node agrees on it. Each node runs the
// JetStream API (internal/jsapi) for the streams it holds, exactly as a
// server alone does; the front sits between the API's endpoint
// subscriptions and the clients:
//
//   - a request naming a stream (STREAM.INFO.<s>, CONSUMER.CREATE.<s>,
//     STREAM.MSG.GET.<s>, …) is answered by the local API when this node
//     holds <s> (or nobody does: the API then says "stream not found"),
//     else forwarded to the holder over its route (Net.SendTo). The
//     holder answers the client's reply subject directly; the answer
//     crosses back on the route because the client's inbox is interest.
//     When the holder is not connected the client gets nats-server's
//     "stream is offline" (STREAM.INFO) or "JetStream system temporarily
//     unavailable" at once, never a timeout;
//   - STREAM.CREATE.<s> and STREAM.RESTORE.<s> first place <s>: the
//     least loaded connected node is proposed to the metadata group, and
//     the first placement committed for the name wins, so two nodes can
//     never create two different streams of one name. The request then
//     goes to the winner, whose API creates the stream (or refuses a
//     different configuration, as a server alone does);
//   - $JS.API.INFO, STREAM.NAMES and STREAM.LIST are gathered: the same
//     request goes to every connected node, each answers for what it
//     holds, and the front combines the answers (jsapi.MergeAccountInfo,
//     jsapi.EncodeStreamPage).
//
// Replicated streams (issue 15; ReplicaMeta, LeaderLocal, MemberMeta in
// replicas.go and metaleader.go, each an optional interface the front
// checks for; without them everything above is unchanged):
//
//   - STREAM.CREATE.<s> with num_replicas R from 2 to 5 places <s> on R
//     distinct connected nodes (this one included), the least loaded
//     first, ties at random (PlaceReplicas; the first is the holder and
//     preferred first leader), then goes to the holder as an R1 create
//     does. Fewer known nodes than R is refused at once with
//     nats-server's 400/10005 "no suitable peers for placement". Other
//     values (R1, more than 5, negative) go the R1 way, and the API
//     refuses what it refuses on a server alone;
//   - a request naming a replicated stream is answered by the local API
//     when this node leads the stream's group (LeaderLocal.Leads); else
//     it goes to every other peer of the stream at once, and only the
//     leader answers: a node that runs a follower replica drops a
//     request that came over a route, as nats-server's followers do not
//     answer API requests, and so does a peer whose replica is not
//     started yet (its API would say "stream not found"), except for a
//     create, which must reach the holder's API. A node that is no peer
//     answers as before. A request that came over a route is
//     never routed again: one hop, no bounce. STREAM.LEADER.STEPDOWN.<s>
//     and STREAM.PEER.REMOVE.<s> are stream requests like STREAM.INFO;
//   - $JS.API.META.LEADER.STEPDOWN is subscribed by ServeMeta in the
//     system account only (nats-server ignores it from any other
//     account). The metadata leader reads the optional placement
//     (preferred, cluster, tags), steps down and answers
//     {"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","success":true},
//     or 500/10041 with the error; another node forwards the request
//     to the leader (one hop), and answers 10008 when it knows none;
//   - gatherings count a replicated stream once: STREAM.NAMES removes
//     duplicate names, STREAM.LIST keeps the info whose cluster.leader
//     is the node that answered it (else the first), a replicated
//     stream is "missing" only when none of its peers answered, and
//     $JS.API.INFO's streams count is lowered by the extra replicas that
//     answered (storage stays the sum over replicas, as nats-server
//     reports it).
//
// Everything else about a stream needs no front: its subjects, direct
// get, flow control and snapshot subjects are ordinary in-process
// subscriptions on the holder, which the route layer announces to the
// other nodes as interest, so a `kv put` on any node reaches the holder
// and its PubAck comes back the same way.
//
// Permissions: the holder does not know the client. The front records
// the answers to every permission question the handler may ask
// (jsapi.RecordCaller) and sends them with the request in the
// Cairn-Caller header; a holder trusts that header only on a request
// that came over a route, and removes none of the client's other
// headers. A client's own Cairn-Caller header is dropped.
//
// Example: a client of n1 runs `nats kv add cfg` and the metadata group
// places KV_cfg on n2. n1's front forwards STREAM.CREATE.KV_cfg to n2,
// n2's API creates the stream and subscribes $KV.cfg.>, which the route
// layer announces to n1 and n3; n2's answer reaches the client through
// n1. A later `nats kv put cfg k v` on n3 is routed to n2 by that
// interest, and `nats kv get cfg k` on n1 is a direct get routed the
// same way.
package jsfront
