package jsfront

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/jsapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeMeta is the metadata group as a map. placeFn, when set, decides
// what Place commits; otherwise the first placement of a name wins.
type fakeMeta struct {
	mu       sync.Mutex
	holders  map[string]string // account+"/"+stream → node
	load     map[string]int
	placeFn  func(ctx context.Context, account, stream, node string) (string, error)
	places   []placeCall
	defines  []metaCall
	releases []metaCall
	changed  chan struct{} // a Define or Release was made

	// ReplicaMeta (fakes_replicas_test.go)
	replicas      map[string][]string // account+"/"+stream → peers
	replicaPlaces [][]string
	leader        string
	stepDown      func(ctx context.Context) error
	stepDowns     int
	members       []string
	stepDownTo    []string
}

type placeCall struct {
	account, stream, node string
	cfg                   json.RawMessage
}

type metaCall struct {
	account, stream, node string
	cfg                   json.RawMessage
}

func newFakeMeta() *fakeMeta {
	return &fakeMeta{holders: map[string]string{}, load: map[string]int{}, changed: make(chan struct{}, 16)}
}

func (m *fakeMeta) set(account, stream, node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holders[account+"/"+stream] = node
}

func (m *fakeMeta) Holder(account, stream string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.holders[account+"/"+stream]
	return n, ok
}

func (m *fakeMeta) Place(ctx context.Context, account, stream, node string, cfg json.RawMessage) (string, error) {
	m.mu.Lock()
	m.places = append(m.places, placeCall{account, stream, node, cfg})
	fn := m.placeFn
	m.mu.Unlock()
	if fn != nil {
		return fn(ctx, account, stream, node)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := account + "/" + stream
	if n, ok := m.holders[key]; ok {
		return n, nil
	}
	m.holders[key] = node
	return node, nil
}

func (m *fakeMeta) Release(_ context.Context, account, stream, node string) error {
	m.mu.Lock()
	m.releases = append(m.releases, metaCall{account: account, stream: stream, node: node})
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default: // nobody counts them
	}
	return nil
}

func (m *fakeMeta) Define(_ context.Context, account, stream, node string, cfg json.RawMessage) error {
	m.mu.Lock()
	m.defines = append(m.defines, metaCall{account, stream, node, cfg})
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default: // nobody counts them
	}
	return nil
}

func (m *fakeMeta) Load() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.load {
		out[k] = v
	}
	return out
}

func (m *fakeMeta) Streams(account string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, n := range m.holders {
		if a, s, ok := cut(k); ok && a == account {
			out[s] = n
		}
	}
	return out
}

func cut(k string) (string, string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:], true
		}
	}
	return "", "", false
}

// sent is one message handed to Net.SendTo or Local.Publish.
type sent struct {
	node, account, subject, reply string
	hdr, data                     []byte
}

// fakeNet is the route layer: peers lists the connected peers, down
// the ones SendTo fails for; answer, when set, answers a request sent
// to a peer (nil: no answer).
type fakeNet struct {
	mu     sync.Mutex
	peers  []string
	down   map[string]bool
	answer func(node, subject string, data []byte) []byte
	onSend func(s sent) // called with each message sent
	front  *Front
	sends  []sent
}

func (n *fakeNet) SendTo(peer, account string, subject, reply, hdr, data []byte) bool {
	n.mu.Lock()
	if n.down[peer] {
		n.mu.Unlock()
		return false
	}
	s := sent{peer, account, string(subject), string(reply), clone(hdr), clone(data)}
	n.sends = append(n.sends, s)
	answer, f, onSend := n.answer, n.front, n.onSend
	n.mu.Unlock()
	if onSend != nil {
		onSend(s)
	}
	if answer != nil && f != nil && len(reply) > 0 {
		if a := answer(peer, string(subject), data); a != nil {
			go f.Answer(account, string(reply), a) // as a route's worker would
		}
	}
	return true
}

func (n *fakeNet) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.peers...)
}

func (n *fakeNet) sent() []sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sent(nil), n.sends...)
}

// fakeLocal is this node's JetStream: a publish to an API subject is
// answered by answer (as the local API would answer the front's
// inbox), any other publish is an answer to a client, queued on out.
type fakeLocal struct {
	mu      sync.Mutex
	name    string
	answer  func(node, subject string, data []byte) []byte
	front   *Front
	configs map[string]json.RawMessage // account+"/"+stream
	out     chan sent
	leads   map[string][2]bool // account+"/"+stream → replicated, leader
}

func (l *fakeLocal) Publish(account, subject, reply string, hdr, data []byte) {
	l.mu.Lock()
	answer, f := l.answer, l.front
	l.mu.Unlock()
	if len(subject) > 8 && subject[:8] == "$JS.API." {
		if answer != nil && f != nil {
			if a := answer(l.name, subject, data); a != nil {
				f.Answer(account, reply, a)
			}
		}
		return
	}
	l.out <- sent{"", account, subject, reply, clone(hdr), clone(data)}
}

func (l *fakeLocal) StreamConfig(account, stream string) (json.RawMessage, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.configs[account+"/"+stream]
	return c, ok
}

func (l *fakeLocal) setConfig(account, stream string, cfg json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cfg == nil {
		delete(l.configs, account+"/"+stream)
		return
	}
	l.configs[account+"/"+stream] = cfg
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// fakeCaller answers from fixed sets; it records every question.
type fakeCaller struct {
	sub, pub, ans map[string]bool
	mu            sync.Mutex
	asked         []string
}

func (c *fakeCaller) note(q string) {
	c.mu.Lock()
	c.asked = append(c.asked, q)
	c.mu.Unlock()
}

func (c *fakeCaller) MayBeAnsweredOn(s string) bool { c.note("ans " + s); return c.ans[s] }
func (c *fakeCaller) MayPublishAll(p string) bool   { c.note("pub " + p); return c.pub[p] }
func (c *fakeCaller) MaySubscribeAll(p string) bool { c.note("sub " + p); return c.sub[p] }

var _ jsapi.Caller = (*fakeCaller)(nil)

// rig is a Front on node n1 with fakes around it.
type rig struct {
	f     *Front
	meta  *fakeMeta
	net   *fakeNet
	local *fakeLocal
}

func newRig(t *testing.T, edit func(*Options)) *rig {
	t.Helper()
	r := &rig{
		meta:  newFakeMeta(),
		net:   &fakeNet{peers: []string{"n2", "n3"}, down: map[string]bool{}},
		local: &fakeLocal{name: "n1", configs: map[string]json.RawMessage{}, out: make(chan sent, 64)},
	}
	opts := Options{Name: "n1", Meta: r.meta, Net: r.net, Local: r.local, Timeout: 2 * time.Second, Logf: t.Logf}
	if edit != nil {
		edit(&opts)
	}
	r.f = New(opts)
	r.net.front, r.local.front = r.f, r.f
	t.Cleanup(r.f.Close)
	return r
}

// localCall is one run of the local API handler.
type localCall struct {
	caller jsapi.Caller
	hdr    []byte
}

// req builds a request whose local handler reports on the returned
// channel.
func req(subject, reply string, hdr, data []byte, c jsapi.Caller) (*request, chan localCall) {
	ch := make(chan localCall, 4)
	r := &request{account: "A", subject: subject, reply: reply, hdr: hdr, data: data, caller: c}
	r.local = func(c jsapi.Caller, hdr []byte) { ch <- localCall{c, clone(hdr)} }
	return r, ch
}

// answerTo waits for the front's answer to a client.
func (r *rig) answerTo(t *testing.T) sent {
	t.Helper()
	select {
	case s := <-r.local.out:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no answer published")
		return sent{}
	}
}

func waitLocal(t *testing.T, ch chan localCall) localCall {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("local handler not run")
		return localCall{}
	}
}

// apiErr decodes the error of an API answer.
func apiErr(t *testing.T, b []byte) (string, *jsapi.APIError) {
	t.Helper()
	var r struct {
		Type  string          `json:"type"`
		Error *jsapi.APIError `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return r.Type, r.Error
}
