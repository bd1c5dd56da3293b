package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/server"
)

func connect(t testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func nextMsg(t testing.TB, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatalf("waiting on %s: %v", sub.Subject, err)
	}
	return m
}

func noMsg(t testing.TB, sub *nats.Subscription) {
	t.Helper()
	if m, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("unexpected message on %s: %q", m.Subject, m.Data)
	}
}

func TestInfo(t *testing.T) {
	s := startServer(t, server.Options{Name: "cairn-test", JetStream: true})
	nc := connect(t, s)
	if v := nc.ConnectedServerVersion(); v != server.CompatVersion {
		t.Fatalf("version %q", v)
	}
	if nc.ConnectedServerName() != "cairn-test" || len(nc.ConnectedServerId()) != 56 {
		t.Fatalf("name %q id %q", nc.ConnectedServerName(), nc.ConnectedServerId())
	}
	if nc.MaxPayload() != 1<<20 || !nc.HeadersSupported() {
		t.Fatalf("max payload %d headers %v", nc.MaxPayload(), nc.HeadersSupported())
	}
}

func TestPubSubWildcards(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s)
	exact, _ := nc.SubscribeSync("orders.eu.new")
	star, _ := nc.SubscribeSync("orders.*.new")
	tail, _ := nc.SubscribeSync("orders.>")
	other, _ := nc.SubscribeSync("invoices.>")
	nc.Flush()
	pub := connect(t, s)
	if err := pub.Publish("orders.eu.new", []byte("1")); err != nil {
		t.Fatal(err)
	}
	pub.Publish("orders.us.old", []byte("2"))
	pub.Publish("orders", []byte("3")) // matched by none: '>' needs a token
	pub.Flush()
	for _, sub := range []*nats.Subscription{exact, star, tail} {
		if m := nextMsg(t, sub); string(m.Data) != "1" || m.Subject != "orders.eu.new" {
			t.Fatalf("%s got %q on %s", sub.Subject, m.Data, m.Subject)
		}
	}
	if m := nextMsg(t, tail); string(m.Data) != "2" {
		t.Fatalf("tail got %q", m.Data)
	}
	noMsg(t, exact)
	noMsg(t, star)
	noMsg(t, tail)
	noMsg(t, other)
}

func TestQueueGroups(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s)
	var counts [3]atomic.Int32
	var total atomic.Int32
	for i := range counts {
		_, err := nc.QueueSubscribe("work", "workers", func(*nats.Msg) {
			counts[i].Add(1)
			total.Add(1)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	plain, _ := nc.SubscribeSync("work")
	nc.Flush()
	const n = 300
	for i := 0; i < n; i++ {
		nc.Publish("work", []byte("x"))
	}
	nc.Flush()
	waitFor(t, func() bool { return total.Load() == n })
	for i := range counts {
		if counts[i].Load() == 0 {
			t.Fatalf("member %d got nothing: %d %d %d", i, counts[0].Load(), counts[1].Load(), counts[2].Load())
		}
	}
	for i := 0; i < n; i++ {
		nextMsg(t, plain)
	}
	time.Sleep(20 * time.Millisecond) // let any duplicate arrive before the final count
	if total.Load() != n {
		t.Fatalf("queue group received %d, want exactly %d", total.Load(), n)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRequestReplyAndHeaders(t *testing.T) {
	s := startServer(t, server.Options{})
	responder := connect(t, s)
	responder.Subscribe("svc.echo", func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set("Echo-Of", m.Header.Get("Trace"))
		reply.Header.Add("Multi", "a")
		reply.Header.Add("Multi", "b")
		reply.Data = append([]byte("re:"), m.Data...)
		m.RespondMsg(reply)
	})
	responder.Flush()
	nc := connect(t, s)
	req := nats.NewMsg("svc.echo")
	req.Header.Set("Trace", "t-42")
	req.Data = []byte("hello")
	resp, err := nc.RequestMsg(req, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Data) != "re:hello" || resp.Header.Get("Echo-Of") != "t-42" || len(resp.Header.Values("Multi")) != 2 {
		t.Fatalf("response %q %v", resp.Data, resp.Header)
	}
	for i := 0; i < 100; i++ {
		if _, err := nc.Request("svc.echo", []byte(fmt.Sprint(i)), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNoResponders(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s)
	_, err := nc.Request("nobody.home", []byte("x"), 2*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err = %v, want ErrNoResponders", err)
	}
}

// TestNoRespondersToTheLiteralInbox: a client with nats.go's request
// wildcard (_INBOX.<id>.*) that waits on a literal inbox under it gets
// the no-responders status on the literal subscription, which is the
// one nats-server picks (its literal match comes before the wildcard);
// nats.go drops it on the wildcard, so the requester would time out.
func TestNoRespondersToTheLiteralInbox(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s)
	echo, err := nc.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Unsubscribe()
	if _, err := nc.Request("echo", []byte("x"), 2*time.Second); err != nil {
		t.Fatal(err) // sets up the request wildcard
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("nobody.home", inbox, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// nats.go turns the 503 status into ErrNoResponders.
	if _, err := sub.NextMsg(2 * time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("literal inbox: %v, want the no-responders status", err)
	}
}

func TestAutoUnsubscribe(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s)
	sub, _ := nc.SubscribeSync("tick")
	sub.AutoUnsubscribe(3)
	nc.Flush()
	for i := 0; i < 10; i++ {
		nc.Publish("tick", []byte{byte('0' + i)})
	}
	nc.Flush()
	for i := 0; i < 3; i++ {
		nextMsg(t, sub)
	}
	noMsg(t, sub)
	waitFor(t, func() bool { return s.NumSubscriptions() == 0 })
}

func TestLargePayloadAndLimit(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s)
	sub, _ := nc.SubscribeSync("big")
	nc.Flush()
	payload := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	if err := nc.Publish("big", payload); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); !bytes.Equal(m.Data, payload) {
		t.Fatalf("got %d bytes back", len(m.Data))
	}
	if err := nc.Publish("big", append(payload, 'x')); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("oversized publish: %v", err)
	}

	// A server with a smaller limit closes a client that ignores it.
	small := startServer(t, server.Options{MaxPayload: 1024})
	raw := dialRaw(t, small)
	raw.send("CONNECT {\"verbose\":false}\r\nPUB x 2048\r\n")
	if got := raw.readAll(); got != "-ERR 'Maximum Payload Violation'\r\n<EOF>" {
		t.Fatalf("got %q", got)
	}
}

func TestManySubscriptions(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s)
	var received atomic.Int32
	const n = 10_000
	for i := 0; i < n; i++ {
		if _, err := nc.Subscribe(fmt.Sprintf("many.%d", i), func(*nats.Msg) { received.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	if s.NumSubscriptions() != n {
		t.Fatalf("server has %d subscriptions", s.NumSubscriptions())
	}
	pub := connect(t, s)
	for i := 0; i < n; i++ {
		pub.Publish(fmt.Sprintf("many.%d", i), nil)
	}
	pub.Flush()
	waitFor(t, func() bool { return received.Load() == n })
}

func TestConcurrentConnections(t *testing.T) {
	s := startServer(t, server.Options{})
	responder := connect(t, s)
	responder.Subscribe("echo", func(m *nats.Msg) { m.Respond(m.Data) })
	responder.Flush()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			nc, err := nats.Connect(s.ClientURL())
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			for j := 0; j < 20; j++ {
				want := fmt.Sprintf("%d-%d", i, j)
				m, err := nc.Request("echo", []byte(want), 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if string(m.Data) != want {
					errs <- fmt.Errorf("got %q want %q", m.Data, want)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	s := startServer(t, server.Options{})
	port := s.Addr().Port
	reconnected := make(chan struct{}, 1)
	nc := connect(t, s, nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	sub, _ := nc.SubscribeSync("after.restart")
	nc.Flush()
	s.Shutdown()

	s2 := startServer(t, server.Options{Port: port})
	select {
	case <-reconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("client did not reconnect")
	}
	// The client resends its subscriptions on reconnect.
	nc.Flush()
	pub := connect(t, s2)
	pub.Publish("after.restart", []byte("back"))
	if m := nextMsg(t, sub); string(m.Data) != "back" {
		t.Fatalf("got %q", m.Data)
	}
}

func TestEchoOff(t *testing.T) {
	s := startServer(t, server.Options{})
	nc := connect(t, s, nats.NoEcho())
	own, _ := nc.SubscribeSync("echo.test")
	other := connect(t, s)
	theirs, _ := other.SubscribeSync("echo.test")
	other.Flush()
	nc.Publish("echo.test", []byte("x"))
	nc.Flush()
	nextMsg(t, theirs)
	noMsg(t, own)
}

func TestInProcessSubscriber(t *testing.T) {
	s := startServer(t, server.Options{})
	sub, err := s.Subscribe("internal.>", "", func(m *server.Msg) {
		s.Publish(m.Reply, "", nil, append([]byte("internal:"), m.Data...))
	})
	if err != nil {
		t.Fatal(err)
	}
	nc := connect(t, s)
	resp, err := nc.Request("internal.svc", []byte("hi"), 2*time.Second)
	if err != nil || string(resp.Data) != "internal:hi" {
		t.Fatalf("resp %v err %v", resp, err)
	}
	if !s.HasInterest("internal.x") || s.HasInterest("other") {
		t.Fatal("HasInterest wrong")
	}
	sub.Unsubscribe()
	if _, err := nc.Request("internal.svc", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after unsubscribe: %v", err)
	}
}
