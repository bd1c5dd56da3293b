package daemon

import (
	"strings"
	"sync"

	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/wire"
)

// System requests: the daemon subscribes the monitor's answers
// (monitor.Sys) in the system account's subject space, so only clients
// of that account reach them; a client of another account asking
// $SYS.REQ.SERVER.PING finds no subscriber and gets no-responders, as
// with nats-server.

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
	maxSysInParallel = 4                        // answers computed off the requester's goroutine
)

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
	for subj, answer := range answers {
		s.subscribe(d, sysAcc, subj, answer)
	}
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
			s.subscribe(d, d.srv.Account(other), subj, answer)
		}
	}
}

// subscribe subscribes answer to subj in acc.
func (s *sysService) subscribe(d *Daemon, acc *server.Account, subj string, answer sysAnswer) {
	sub, err := acc.Subscribe(subj, "", s.handler(acc, answer))
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
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}

// handler answers the requests of a subscription in acc with what
// answer returns (nil: no answer). A request without a reply subject
// gets none either.
func (s *sysService) handler(acc *server.Account, answer sysAnswer) server.Handler {
	return func(m *server.Msg) {
		if m.Reply == "" {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		subj, reply, body := m.Subject, m.Reply, append([]byte(nil), m.Data...)
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
