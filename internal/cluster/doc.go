// Package cluster connects cairn-server nodes with routes: one TCP
// connection per pair of nodes, over which they exchange who they are,
// which subjects their local clients are interested in, and the
// messages published on one node that another node's clients want.
//
// API (for internal/daemon): fill an Options (Name is the cluster name,
// ServerName must be unique in the cluster, Host/Port is the cluster
// listener, Advertise the route address given to peers, Routes are the
// seed routes to dial (a URL's own user:password wins for it),
// User/Password the route credentials every node sends when dialing
// and checks when accepting, AuthTimeout bounds the handshake, TLS is
// used for both sides of a route when set (a dialer verifies the
// peer's certificate for the route's host unless ServerName is set),
// ClientURL is the "host:port" this node advertises to clients, and
// OnPeersChanged is called, on a goroutine of the cluster and with no
// lock held, after a peer joined or left), then call
// Start(srv, opts) once the server listens. Start returns a *Cluster that
// accepts and dials routes until Close, which closes every route and
// waits for the cluster's goroutines. Addr is the cluster listener's
// address (useful with Port 0). Peers returns a copy of the connected
// peers (server name, server id, advertised client URL), safe to call
// from any goroutine, PeerNames their server names, and
// SeedsConnected whether a route is up to every configured route. A
// server started without a Cluster behaves exactly as a single node.
//
// What crosses routes: client subscriptions and in-process ones made
// with server.Account.Subscribe (cluster-visible); those made with
// SubscribeLocal (the JetStream API endpoints, the system requests)
// never do, but get what a peer sends this node by name with SendTo
// (op RFWD). Deliveries to in-process handlers run on one worker
// goroutine per route, in arrival order, with a bounded queue
// (worker.go); client deliveries run on the route's reader. SendRaft
// carries Raft frames (op RAFT) to Options.OnRaft on the peer.
//
// Data model: every route keeps the remote node's interest as a
// subscription index per account (subject, queue). A message published
// on this node is forwarded at most once to each peer whose interest
// matches it; a message arriving from a route is delivered only to
// local subscribers and never forwarded again (full mesh, one hop).
//
// Worked example: n1 and n2 form a cluster; a client on n2 subscribes
// to "orders.>", so n2 sends "RS+ $G orders.>" to n1. A client on n1
// publishes "orders.1"; n1's routing finds no local subscriber but the
// route to n2 has interest, so n1 sends "RMSG $G orders.1 - 5" and the
// payload; n2 delivers it to its subscriber. The route protocol is
// described in docs/CLUSTERING.md, "Route protocol".
package cluster
