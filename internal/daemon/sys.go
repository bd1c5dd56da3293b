package daemon

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/wire"
)

// System requests: the daemon subscribes the monitor's answers
// (monitor.Sys) in the system account's subject space, so only clients
// of that account reach them; a client of another account asking
// $SYS.REQ.SERVER.PING finds no subscriber and gets no-responders, as
// with nats-server. The subscriptions are node-local
// (server.Account.SubscribeLocal): on a cluster node they answer this
// node's clients only and are not announced to the peers.

// DefaultSystemAccount is the system account when Config.SystemAccount
// is empty, as nats-server's: an account named "$SYS" in the accounts
// block is the system account without system_account.
const DefaultSystemAccount = "$SYS"

// systemAccount returns the name of the system account.
func (c *Config) systemAccount() string {
	if c.SystemAccount == "" {
		return DefaultSystemAccount
	}
	return c.SystemAccount
}

// Request subjects (nats-server's server/events.go).
const (
	sysPingSubject   = "$SYS.REQ.SERVER.PING"   // STATSZ of every server
	sysPingPrefix    = "$SYS.REQ.SERVER.PING."  // + endpoint
	sysDirectPrefix  = "$SYS.REQ.SERVER."       // + server id + "." + endpoint
	sysAccountPrefix = "$SYS.REQ.ACCOUNT."      // + account + "." + endpoint
	sysAccountPing   = "$SYS.REQ.ACCOUNT.PING." // + endpoint, in any account
	sysStatszEvent   = "$SYS.SERVER.%s.STATSZ"  // the server's statistics, published
	maxSysInParallel = 4                        // answers computed off the requester's goroutine
)

// Statistics events, as nats-server's: published every
// statszInterval while the system account has a subscriber for them,
// and on a STATSZ request without a reply subject, at most once per
// statszMinGap.
var statszInterval = 10 * time.Second // a variable for tests

const statszMinGap = time.Second

// sysAnswer answers a request on subject with payload body and
// Accept-Encoding header ae; a reply without payload is no answer.
type sysAnswer func(subject string, body []byte, ae string) monitor.Reply

// sysService answers the system account's requests.
type sysService struct {
	sys *monitor.Sys

	// slots bounds the answers computed in goroutines; a request that
	// finds none free is answered on the requester's reader goroutine,
	// which slows that client down rather than piling up goroutines.
	slots chan struct{}
	subs  []*server.Subscription

	// statsz publishes the statistics events (statszLoop).
	statsz struct {
		subject  string
		interval time.Duration
		stop     chan struct{}
		done     chan struct{}
		mu       sync.Mutex
		last     time.Time // the last event published
	}

	mu     sync.Mutex
	closed bool           // set by stop; no answer starts after it
	wg     sync.WaitGroup // answers in progress
}

// startSys subscribes the system requests in the system account, and
// in every other account the requests nats-server lets any account
// make about itself ($SYS.REQ.SERVER.PING.CONNZ and
// $SYS.REQ.ACCOUNT.PING.CONNZ: its own connections). It needs the
// monitor (startMonitor). A subscription that fails (it cannot: the
// subjects are valid) is logged and left out.
func (d *Daemon) startSys() {
	name := d.cfg.systemAccount()
	s := &sysService{sys: monitor.NewSys(d.monitor), slots: make(chan struct{}, maxSysInParallel)}
	d.sys = s
	sysAcc := d.srv.Account(name)
	s.statsz.subject = fmt.Sprintf(sysStatszEvent, d.srv.ID())
	s.statsz.interval = statszInterval
	answers := map[string]sysAnswer{
		sysPingSubject: func(_ string, body []byte, ae string) monitor.Reply {
			return s.sys.AnswerEncoded(monitor.SysStatsz, body, ae)
		},
	}
	for _, ep := range s.sys.Endpoints() {
		answer := func(_ string, body []byte, ae string) monitor.Reply { return s.sys.AnswerEncoded(ep, body, ae) }
		answers[sysPingPrefix+ep] = answer
		answers[sysDirectPrefix+d.srv.ID()+"."+ep] = answer
	}
	for _, ep := range []string{monitor.SysConnz, monitor.SysSubsz} {
		answers[sysAccountPrefix+"*."+ep] = func(subject string, body []byte, ae string) monitor.Reply {
			// $SYS.REQ.ACCOUNT.<account>.<endpoint>
			account := strings.TrimSuffix(strings.TrimPrefix(subject, sysAccountPrefix), "."+ep)
			return s.sys.AnswerAccountEncoded(ep, account, body, ae)
		}
	}
	broadcast := map[string]bool{ // STATSZ: without a reply subject, an event
		sysPingSubject: true, sysPingPrefix + monitor.SysStatsz: true, sysDirectPrefix + d.srv.ID() + "." + monitor.SysStatsz: true,
	}
	for subj, answer := range answers {
		s.subscribe(d, sysAcc, subj, answer, broadcast[subj])
	}
	s.statsz.stop, s.statsz.done = make(chan struct{}), make(chan struct{})
	go s.statszLoop(sysAcc)
	others := []string{server.GlobalAccount}
	for _, a := range d.cfg.Accounts {
		others = append(others, a.Name)
	}
	for _, other := range others {
		if other == name {
			continue
		}
		answer := func(_ string, body []byte, ae string) monitor.Reply {
			return s.sys.AnswerAccountEncoded(monitor.SysConnz, other, body, ae)
		}
		for _, subj := range []string{sysPingPrefix + monitor.SysConnz, sysAccountPing + monitor.SysConnz} {
			s.subscribe(d, d.srv.Account(other), subj, answer, false)
		}
	}
}

// subscribe subscribes answer to subj in acc; with broadcast, a
// request without a reply subject is answered on the statistics event
// subject (STATSZ). The subscription is cluster-visible: as with
// nats-server, every node of a cluster answers a ping sent to any of
// them (`nats server list` lists them all), and a request naming a
// server id reaches that server wherever the client is connected.
func (s *sysService) subscribe(d *Daemon, acc *server.Account, subj string, answer sysAnswer, broadcast bool) {
	sub, err := acc.Subscribe(subj, "", s.handler(acc, answer, broadcast))
	if err != nil {
		d.srv.Logger().Errorf("System requests of account %q: %v", acc.Name(), err)
		return
	}
	s.subs = append(s.subs, sub)
}

// stopSys unsubscribes the system requests and waits for the answers
// in progress, so that the monitor and the stores may close. Safe when
// startSys did not run.
func (d *Daemon) stopSys() {
	s := d.sys
	if s == nil {
		return
	}
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	if s.statsz.stop != nil {
		close(s.statsz.stop)
		<-s.statsz.done
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}

// handler answers the requests of a subscription in acc with what
// answer returns (nil: no answer). A request without a reply subject
// gets none either, unless broadcast: then the answer is published as
// a statistics event, if anyone listens and the last was not sent less
// than statszMinGap ago.
func (s *sysService) handler(acc *server.Account, answer sysAnswer, broadcast bool) server.Handler {
	return func(m *server.Msg) {
		reply := m.Reply
		if reply == "" {
			if !broadcast || !s.statszDue(acc, false) {
				return
			}
			reply = s.statsz.subject
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		subj, body := m.Subject, append([]byte(nil), m.Data...)
		ae, _ := wire.HeaderValue(m.Header, "Accept-Encoding")
		run := func() {
			defer s.wg.Done()
			out := answer(subj, body, ae)
			if out.Payload == nil {
				return
			}
			var hdr []byte
			if out.ContentEncoding != "" {
				hdr = new(wire.HeaderBuilder).Add("Content-Encoding", out.ContentEncoding).Bytes()
			}
			acc.Publish(reply, "", hdr, out.Payload)
		}
		select {
		case s.slots <- struct{}{}:
			go func() {
				defer func() { <-s.slots }()
				run()
			}()
		default:
			run()
		}
	}
}

// statszLoop publishes a statistics event every interval while
// someone in acc listens, until stop is closed.
func (s *sysService) statszLoop(acc *server.Account) {
	defer close(s.statsz.done)
	t := time.NewTicker(s.statsz.interval)
	defer t.Stop()
	for {
		select {
		case <-s.statsz.stop:
			return
		case <-t.C:
			s.publishStatsz(acc)
		}
	}
}

// publishStatsz publishes the server's statistics on its event
// subject if anyone in acc listens.
func (s *sysService) publishStatsz(acc *server.Account) {
	if !s.statszDue(acc, true) {
		return
	}
	if out := s.sys.Answer(monitor.SysStatsz, nil); out != nil {
		acc.Publish(s.statsz.subject, "", nil, out)
	}
}

// statszDue reports whether a statistics event is to be published now:
// someone in acc listens and, unless periodic, the last one is at
// least statszMinGap old. It records the event as sent.
func (s *sysService) statszDue(acc *server.Account, periodic bool) bool {
	if !acc.HasInterest(s.statsz.subject) {
		return false
	}
	s.statsz.mu.Lock()
	defer s.statsz.mu.Unlock()
	now := time.Now()
	if !periodic && now.Sub(s.statsz.last) < statszMinGap {
		return false
	}
	s.statsz.last = now
	return true
}
