package jsapi

import (
	"encoding/json"
	"slices"
	"strings"
)

// On a cluster a request for a stream held by another node is answered
// there (internal/jsfront), where the requesting client is unknown. The
// node the client is connected to records, before forwarding, the
// answers to every permission question the handler may ask about the
// request (CallerQueries), and the holder asks a RecordedCaller instead
// of the client: the same checks, made with the client's permissions,
// on the node that knows them.

// CallerQueries lists the questions the handler of subject may ask its
// Caller about a request with body data: subjects for MaySubscribeAll,
// patterns for MayPublishAll and subjects for MayBeAnsweredOn. A body
// that does not decode asks nothing (the handler refuses it before
// asking).
func CallerQueries(subject string, data []byte) (subscribeAll, publishAll, answeredOn []string) {
	switch {
	case strings.HasPrefix(subject, "$JS.API.STREAM.CREATE."), strings.HasPrefix(subject, "$JS.API.STREAM.UPDATE."):
		var cfg struct {
			Subjects  []string `json:"subjects"`
			RePublish *struct {
				Destination string `json:"dest"`
			} `json:"republish"`
		}
		if json.Unmarshal(data, &cfg) != nil {
			return nil, nil, nil
		}
		subscribeAll = cfg.Subjects
		if len(subscribeAll) == 0 {
			// A stream without subjects gets its name as its one
			// subject (normalize), which the handler then asks about.
			subscribeAll = []string{subject[strings.LastIndexByte(subject, '.')+1:]}
		}
		if cfg.RePublish != nil {
			publishAll = []string{destPattern(cfg.RePublish.Destination)}
		}
	case strings.HasPrefix(subject, "$JS.API.CONSUMER."):
		var body struct {
			Config struct {
				DeliverSubject string `json:"deliver_subject"`
			} `json:"config"`
		}
		if json.Unmarshal(data, &body) == nil && body.Config.DeliverSubject != "" {
			answeredOn = []string{body.Config.DeliverSubject}
		}
	case strings.HasPrefix(subject, "$JS.API.STREAM.SNAPSHOT."), strings.HasPrefix(subject, "$JS.API.STREAM.RESTORE."):
		var body struct {
			DeliverSubject string `json:"deliver_subject"`
		}
		if json.Unmarshal(data, &body) == nil && body.DeliverSubject != "" {
			answeredOn = []string{body.DeliverSubject}
		}
	}
	return subscribeAll, publishAll, answeredOn
}

// RecordedCaller is a Caller whose answers were recorded from the real
// one (RecordCaller). A question it has no answer for is answered no.
// It travels as JSON between nodes of a cluster.
type RecordedCaller struct {
	SubscribeAll map[string]bool `json:"sub,omitempty"`
	PublishAll   map[string]bool `json:"pub,omitempty"`
	AnsweredOn   map[string]bool `json:"ans,omitempty"`
}

var _ Caller = (*RecordedCaller)(nil)

// RecordCaller asks c every question the handler of subject may ask
// about body data and returns the answers; nil when c is nil (an
// unrestricted requester stays unrestricted).
func RecordCaller(c Caller, subject string, data []byte) *RecordedCaller {
	if c == nil {
		return nil
	}
	sub, pub, ans := CallerQueries(subject, data)
	r := &RecordedCaller{SubscribeAll: map[string]bool{}, PublishAll: map[string]bool{}, AnsweredOn: map[string]bool{}}
	for _, s := range sub {
		r.SubscribeAll[s] = c.MaySubscribeAll(s)
	}
	for _, p := range pub {
		r.PublishAll[p] = c.MayPublishAll(p)
	}
	for _, s := range ans {
		r.AnsweredOn[s] = c.MayBeAnsweredOn(s)
	}
	return r
}

// MayBeAnsweredOn implements Caller.
func (r *RecordedCaller) MayBeAnsweredOn(subject string) bool { return r.AnsweredOn[subject] }

// MayPublishAll implements Caller.
func (r *RecordedCaller) MayPublishAll(pattern string) bool { return r.PublishAll[pattern] }

// MaySubscribeAll implements Caller.
func (r *RecordedCaller) MaySubscribeAll(pattern string) bool { return r.SubscribeAll[pattern] }

// StreamConfigJSON returns the configuration of the stream named name
// as JSON, or false when this API holds no such stream.
func (a *API) StreamConfigJSON(name string) ([]byte, bool) {
	s := a.lookup(name)
	if s == nil {
		return nil, false
	}
	cfg := s.config()
	b, err := json.Marshal(&cfg)
	return b, err == nil
}

// StreamNames returns the names of the streams this API holds, sorted.
func (a *API) StreamNames() []string {
	a.mu.RLock()
	names := make([]string, 0, len(a.mu.streams))
	for n := range a.mu.streams {
		names = append(names, n)
	}
	a.mu.RUnlock()
	slices.Sort(names)
	return names
}
