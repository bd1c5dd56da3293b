package auth

import (
	"fmt"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/subject"
)

// Rules are the allow and deny lists of one direction (publish or
// subscribe) as configured. A nil *Rules, or one with neither list,
// allows everything. A subscribe entry may name a queue group after a
// space: "orders.* workers".
type Rules struct {
	Allow, Deny []string
}

// Permissions limit what a connection may publish and subscribe to, as
// nats-server's permissions do (server/client.go, v2.15.2):
//
//   - publish: with an allow list the subject must match an entry; a
//     deny entry that matches wins. A subject is compared token by
//     token, so a '*' or '>' token in a published subject is only
//     matched by a '*' or '>' pattern token, never by a literal one.
//   - subscribe: the subscription subject is compared with the allow
//     entries as a whole: it is allowed when an allow pattern covers
//     every subject it can match (foo.* is allowed by foo.*, foo.> and
//     >, not by foo.bar). It is then refused when a deny entry matches
//     it the way nats-server matches it (foo.* and foo.> are refused by
//     deny foo.>; foo.> is refused by deny foo.*). A wildcard or queue
//     subscription that only overlaps a deny entry is accepted, and the
//     denied messages are dropped at delivery ([Permissions.Delivers]).
//
// Permissions are immutable and safe for concurrent use. Checks do not
// allocate; the server caches their results per connection.
type Permissions struct {
	pub  *compiled // nil: publish anything
	sub  *compiled // nil: subscribe to anything
	deny []entry   // sub.deny, for Overlaps
	resp *Responses
}

// Responses is allow_responses: a connection may publish to the reply
// subject of each message delivered to it, at most MaxMsgs times within
// Expires of the delivery, even when its publish permissions do not
// allow that subject. Zero values take nats-server's defaults.
type Responses struct {
	MaxMsgs int
	Expires time.Duration
}

// Defaults of allow_responses: true (nats-server's).
const (
	DefaultResponseMaxMsgs = 1
	DefaultResponseExpires = 2 * time.Minute
)

type compiled struct {
	allow    []entry
	hasAllow bool // an allow list was given (even empty: nothing allowed)
	deny     []entry
}

// entry is one pattern, with the queue group a subscribe entry names.
type entry struct {
	subject, queue string
}

// NewPermissions compiles publish and subscribe rules; nil rules allow
// everything in their direction. It returns nil when neither restricts
// anything. The error wraps ErrConfig and names the invalid entry.
func NewPermissions(pub, sub *Rules) (*Permissions, error) {
	return NewPermissionsWithResponses(pub, sub, nil)
}

// NewPermissionsWithResponses is NewPermissions with allow_responses
// (nil: none). As in nats-server, allow_responses without a publish
// allow list makes the allow list empty: the connection may then publish
// only replies.
func NewPermissionsWithResponses(pub, sub *Rules, resp *Responses) (*Permissions, error) {
	p := &Permissions{}
	if resp != nil {
		r := *resp
		if r.MaxMsgs == 0 {
			r.MaxMsgs = DefaultResponseMaxMsgs
		}
		if r.Expires == 0 {
			r.Expires = DefaultResponseExpires
		}
		p.resp = &r
		rules := Rules{Allow: []string{}}
		if pub != nil {
			rules.Deny = pub.Deny
			if pub.Allow != nil {
				rules.Allow = pub.Allow
			}
		}
		pub = &rules
	}
	var err error
	if p.pub, err = compile("publish", pub, false); err != nil {
		return nil, err
	}
	if p.sub, err = compile("subscribe", sub, true); err != nil {
		return nil, err
	}
	if p.pub == nil && p.sub == nil && p.resp == nil {
		return nil, nil
	}
	if p.sub != nil {
		p.deny = p.sub.deny
	}
	return p, nil
}

func compile(what string, r *Rules, queues bool) (*compiled, error) {
	if r == nil || (r.Allow == nil && r.Deny == nil) {
		return nil, nil
	}
	c := &compiled{hasAllow: r.Allow != nil}
	var err error
	if c.allow, err = entries(what+".allow", r.Allow, queues); err != nil {
		return nil, err
	}
	if c.deny, err = entries(what+".deny", r.Deny, queues); err != nil {
		return nil, err
	}
	return c, nil
}

func entries(what string, list []string, queues bool) ([]entry, error) {
	out := make([]entry, 0, len(list))
	for _, s := range list {
		e := entry{subject: s}
		if queues {
			if subj, q, ok := strings.Cut(strings.TrimSpace(s), " "); ok {
				e = entry{subject: subj, queue: strings.TrimSpace(q)}
			}
		}
		if !subject.Valid(e.subject) || (e.queue != "" && strings.ContainsAny(e.queue, " \t\r\n")) {
			return nil, fmt.Errorf("%w: permissions %s: invalid subject %q", ErrConfig, what, s)
		}
		out = append(out, e)
	}
	return out, nil
}

// Responses returns the allow_responses settings, nil when not set.
func (p *Permissions) Responses() *Responses {
	if p == nil {
		return nil
	}
	return p.resp
}

// CanPublish reports whether the publish permissions let subj be
// published to (the reply subjects allow_responses adds are the
// server's to track).
func (p *Permissions) CanPublish(subj string) bool {
	if p == nil || p.pub == nil {
		return true
	}
	if p.pub.hasAllow && !matchAny(p.pub.allow, subj) {
		return false
	}
	return !matchAny(p.pub.deny, subj)
}

// CanPublishAll reports whether the publish permissions let every
// subject that pattern matches be published to: an allow entry covers
// the whole pattern and no deny entry overlaps it. A service that will
// publish on the user's behalf to subjects it only knows as a pattern
// (a stream's republish destination) asks this; CanPublish(pattern)
// would compare the pattern's wildcard tokens as literals, so that
// deny "a.secret" would not refuse "a.*".
func (p *Permissions) CanPublishAll(pattern string) bool {
	if p == nil || p.pub == nil {
		return true
	}
	if p.pub.hasAllow {
		covered := false
		for _, e := range p.pub.allow {
			if subject.SubsetOf(pattern, e.subject) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	for _, e := range p.pub.deny {
		if subject.Overlap(e.subject, pattern) {
			return false
		}
	}
	return true
}

// CanSubscribeAll reports whether the subscribe permissions let every
// subject that pattern matches be received through a plain (not queue)
// subscription: an allow entry without a queue group covers the whole
// pattern and no deny entry without one overlaps it. A service that
// will receive on the user's behalf with no delivery filter (a
// stream's subjects) asks this; CanSubscribe would accept a pattern
// that only overlaps a deny entry, whose messages the server filters.
func (p *Permissions) CanSubscribeAll(pattern string) bool {
	if p == nil || p.sub == nil {
		return true
	}
	if p.sub.hasAllow {
		covered := false
		for _, e := range p.sub.allow {
			if e.queue == "" && subject.SubsetOf(pattern, e.subject) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	for _, e := range p.deny {
		if e.queue == "" && subject.Overlap(e.subject, pattern) {
			return false
		}
	}
	return true
}

// matchAny reports whether some entry matches subj (wildcard tokens of
// subj compared as nats-server's sublist compares them).
func matchAny(list []entry, subj string) bool {
	for i := range list {
		if subject.Match(list[i].subject, subj) {
			return true
		}
	}
	return false
}

// CanSubscribe reports whether a subscription to subj, in queue group
// queue ("" for none), may be made.
func (p *Permissions) CanSubscribe(subj, queue string) bool {
	if p == nil || p.sub == nil {
		return true
	}
	if p.sub.hasAllow {
		plain, queued, queueOK := false, false, false
		for _, e := range p.sub.allow {
			if !subject.SubsetOf(subj, e.subject) {
				continue
			}
			if e.queue == "" {
				plain = true
			} else {
				queued = true
				queueOK = queueOK || queueMatches(queue, e.queue)
			}
		}
		allowed := plain
		if queue != "" && queued {
			// An allow entry naming queue groups limits the groups.
			allowed = queueOK
		}
		if !allowed {
			return false
		}
	}
	return !p.denied(subj, queue)
}

// denied reports whether a deny entry matches subj (in queue).
func (p *Permissions) denied(subj, queue string) bool {
	queued, queueHit := false, false
	for _, e := range p.deny {
		if !subject.Match(e.subject, subj) {
			continue
		}
		if e.queue == "" {
			return true
		}
		queued = true
		queueHit = queueHit || queueMatches(queue, e.queue)
	}
	return queue != "" && queued && queueHit
}

// queueMatches reports whether queue is the entry's group: the same
// name, or covered by it when the entry has wildcards.
func queueMatches(queue, pattern string) bool {
	if queue == "" {
		return false
	}
	return queue == pattern || (subject.HasWildcard(pattern) && subject.Valid(queue) && subject.SubsetOf(queue, pattern))
}

// Overlaps reports whether a subscription to subj (in queue) may receive
// messages a deny entry denies: a wildcard or queue subscription that
// some deny entry overlaps. The server then checks each delivery to the
// connection with [Permissions.Delivers].
func (p *Permissions) Overlaps(subj, queue string) bool {
	if p == nil || (queue == "" && !subject.HasWildcard(subj)) {
		return false
	}
	for _, e := range p.deny {
		if subject.Overlap(e.subject, subj) {
			return true
		}
	}
	return false
}

// Delivers reports whether a message on subj may be delivered to a
// subscription in queue ("" for none): false when a subscribe deny
// entry matches it.
func (p *Permissions) Delivers(subj, queue string) bool {
	return p == nil || !p.denied(subj, queue)
}

// QueueDeny reports whether a deny entry names a queue group, when
// whether a delivery is denied depends on the subscription's queue.
func (p *Permissions) QueueDeny() bool {
	if p == nil {
		return false
	}
	for _, e := range p.deny {
		if e.queue != "" {
			return true
		}
	}
	return false
}
