package daemon

import (
	"sync"

	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
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

// Request subjects (nats-server's server/events.go).
const (
	sysPingSubject   = "$SYS.REQ.SERVER.PING"  // STATSZ of every server
	sysPingPrefix    = "$SYS.REQ.SERVER.PING." // + endpoint
	sysDirectPrefix  = "$SYS.REQ.SERVER."      // + server id + "." + endpoint
	maxSysInParallel = 4                       // answers computed off the requester's goroutine
)

// sysService answers the system account's requests.
type sysService struct {
	sys *monitor.Sys
	acc *server.Account

	// slots bounds the answers computed in goroutines; a request that
	// finds none free is answered on the requester's reader goroutine,
	// which slows that client down rather than piling up goroutines.
	slots chan struct{}
	subs  []*server.Subscription

	mu     sync.Mutex
	closed bool           // set by stop; no answer starts after it
	wg     sync.WaitGroup // answers in progress
}

// startSys subscribes the system requests in the system account. It
// needs the monitor (startMonitor). A subscription that fails (it
// cannot: the subjects are valid) is logged and left out.
func (d *Daemon) startSys() {
	name := d.cfg.SystemAccount
	if name == "" {
		name = DefaultSystemAccount
	}
	s := &sysService{
		sys:   monitor.NewSys(d.monitor),
		acc:   d.srv.Account(name),
		slots: make(chan struct{}, maxSysInParallel),
	}
	subjects := map[string]string{sysPingSubject: monitor.SysStatsz}
	for _, ep := range s.sys.Endpoints() {
		subjects[sysPingPrefix+ep] = ep
		subjects[sysDirectPrefix+d.srv.ID()+"."+ep] = ep
	}
	for subj, ep := range subjects {
		sub, err := s.acc.Subscribe(subj, "", s.handler(ep))
		if err != nil {
			d.srv.Logger().Errorf("System account %q: %v", name, err)
			continue
		}
		s.subs = append(s.subs, sub)
	}
	d.sys = s
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

// handler answers requests to endpoint ep. A request without a reply
// subject gets no answer.
func (s *sysService) handler(ep string) server.Handler {
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
		reply, body := m.Reply, append([]byte(nil), m.Data...)
		answer := func() {
			defer s.wg.Done()
			if out := s.sys.Answer(ep, body); out != nil {
				s.acc.Publish(reply, "", nil, out)
			}
		}
		select {
		case s.slots <- struct{}{}:
			go func() {
				defer func() { <-s.slots }()
				answer()
			}()
		default:
			answer()
		}
	}
}
