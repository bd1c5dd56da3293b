package server

import (
	"fmt"
	"unsafe"

	"github.com/cairn-db/cairn/internal/subject"
)

// Msg is a message handed to an in-process subscriber.
type Msg struct {
	Subject string
	Reply   string
	Header  []byte // raw header block, nil when the message has none
	Data    []byte
	// FromRoute is set when the message arrived from a peer (a routed
	// or forwarded message, see DeliverFromRoute and DeliverForwarded);
	// Requester is then nil.
	FromRoute bool

	from *client // the publishing client; nil in-process or from a route
}

// Requester is the client that published a message, as far as an
// in-process service needs to know it: where the service may publish on
// its behalf.
type Requester struct{ c *client }

// Requester returns who published m, or nil when no restriction applies
// (an in-process publish, or a client without permissions). It, and
// its method, may only be used during the handler's call.
func (m *Msg) Requester() *Requester {
	if m.from == nil || m.from.perm.p.Load() == nil {
		return nil
	}
	return &Requester{c: m.from}
}

// MayBeAnsweredOn reports whether an in-process service may publish to
// subj on the requester's behalf, by the reply rule (reply_rule.go): a
// subject it may publish to, or one it receives on where no in-process
// service listens.
func (r *Requester) MayBeAnsweredOn(subj string) bool {
	return r.c.mayBeAnsweredOn([]byte(subj))
}

// MayPublishAll reports whether the requester may publish to every
// subject pattern matches (auth.Permissions.CanPublishAll; what
// allow_responses opened does not count): a service that will publish
// on its behalf to subjects known only as a pattern, such as a stream's
// republish destination, asks this.
func (r *Requester) MayPublishAll(pattern string) bool {
	return r.c.perm.p.Load().CanPublishAll(pattern)
}

// MaySubscribeAll reports whether the requester may receive every
// subject pattern matches through a plain subscription, with no
// delivery filter (auth.Permissions.CanSubscribeAll): a service that
// will receive on its behalf, such as a stream capturing its subjects,
// asks this.
func (r *Requester) MaySubscribeAll(pattern string) bool {
	return r.c.perm.p.Load().CanSubscribeAll(pattern)
}

// Handler receives messages for an in-process subscription. It runs
// synchronously on the publisher's goroutine (for a message from a
// peer, on the route's worker goroutine: one per route, in arrival
// order), so it must not block for long; m and its slices are only
// valid during the call (copy to keep). A handler may call Publish and
// Subscribe.
type Handler func(m *Msg)

// Subscription is an in-process subscription returned by Subscribe.
type Subscription struct {
	acc *Account
	sub *subscription
}

// Subscribe subscribes in the global account (Account.Subscribe).
func (s *Server) Subscribe(subj, queue string, h Handler) (*Subscription, error) {
	return s.global.Subscribe(subj, queue, h)
}

// Publish publishes in the global account (Account.Publish).
func (s *Server) Publish(subj, reply string, header, data []byte) {
	s.global.Publish(subj, reply, header, data)
}

// PublishAs publishes in the global account (Account.PublishAs).
func (s *Server) PublishAs(routeSubj, subj, reply, header, data []byte) {
	s.global.PublishAs(routeSubj, subj, reply, header, data)
}

// HasInterest reports interest in the global account
// (Account.HasInterest).
func (s *Server) HasInterest(subj string) bool { return s.global.HasInterest(subj) }

// Subscribe registers h for messages on subj (wildcards allowed) in the
// account, in queue group queue ("" for none). In-process subscriptions
// count as interest, so requests to them never get a no-responders
// answer.
//
// The subscription is cluster-visible, as a client's is: on a cluster
// node it is announced to the peers, and messages published on other
// nodes reach it (Msg.FromRoute set, run on the route's worker
// goroutine). A service that must answer only this node's clients
// uses SubscribeLocal.
func (a *Account) Subscribe(subj, queue string, h Handler) (*Subscription, error) {
	return a.subscribe(subj, queue, h, false)
}

// SubscribeLocal is Subscribe for a node-local subscription: it is
// never announced to the cluster and gets messages published on this
// node, plus those a peer forwards to this node by name
// (DeliverForwarded, on the route's worker goroutine), never a
// message routed by interest. Per-node services use it: the JetStream
// API endpoints, the system account's requests.
func (a *Account) SubscribeLocal(subj, queue string, h Handler) (*Subscription, error) {
	return a.subscribe(subj, queue, h, true)
}

func (a *Account) subscribe(subj, queue string, h Handler, local bool) (*Subscription, error) {
	if h == nil {
		return nil, fmt.Errorf("server: nil handler for %q", subj)
	}
	sub := &subscription{handler: h, subject: subj, queue: queue, local: local}
	if err := a.insertSub(subj, queue, sub); err != nil {
		return nil, fmt.Errorf("server: subscribe %q: %w", subj, err)
	}
	return &Subscription{acc: a, sub: sub}, nil
}

// Unsubscribe removes the subscription; messages already being delivered
// may still arrive. It is idempotent.
func (sub *Subscription) Unsubscribe() {
	sub.acc.removeSub(sub.sub.subject, sub.sub.queue, sub.sub)
}

// Publish delivers a message to every matching subscription of the
// account, client or in-process. It must not be given an invalid
// subject; such messages are dropped. The slices are not retained after
// Publish returns.
func (a *Account) Publish(subj, reply string, header, data []byte) {
	if !subject.Valid(subj) {
		a.srv.log.Debugf("Dropping in-process publish to invalid subject %q", subj)
		return
	}
	// Read-only views of the strings, not copies: route only reads
	// them (one allocation less per acknowledgement and answer).
	a.srv.route(a, nil, unsafe.Slice(unsafe.StringData(subj), len(subj)), unsafe.Slice(unsafe.StringData(reply), len(reply)), header, data)
}

// PublishAs delivers a message to the subscriptions matching
// routeSubj, presenting it to them as published on subj (a JetStream
// consumer delivers a stream message this way: routed by the deliver
// subject, shown with the message's own subject), on this node and on
// the peers with interest in routeSubj. reply may be empty.
// The slices are not retained after PublishAs returns.
func (a *Account) PublishAs(routeSubj, subj, reply, header, data []byte) {
	a.srv.routeAs(a, nil, routeSubj, subj, reply, header, data)
}

// HasInterest reports whether any subscription of the account matches
// subj: a local one (client or in-process) or, on a cluster node, one
// a peer announced.
func (a *Account) HasInterest(subj string) bool {
	if !a.subs.Match(subj).Empty() {
		return true
	}
	box := a.cluster.Load()
	return box != nil && box.h.RemoteInterest(a.name, unsafe.Slice(unsafe.StringData(subj), len(subj)))
}
