package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/bench/benchserver"
)

func allWorkloads() []workload {
	return []workload{
		{name: "req/reply 1 conn 128B", unit: "req/s", run: func(p *benchserver.Process, d time.Duration) (float64, error) { return reqReply(p.URL, 1, d) }},
		{name: "req/reply 4 conns 128B", unit: "req/s", run: func(p *benchserver.Process, d time.Duration) (float64, error) { return reqReply(p.URL, 4, d) }},
		{name: "pub to 1 sub 128B", unit: "msgs/s", run: func(p *benchserver.Process, d time.Duration) (float64, error) { return pubSub(p.URL, d) }},
	}
}

var payload128 = make([]byte, 128)

// reqReply measures round trips per second: conns requester connections,
// each sending requests one after another to one responder connection.
func reqReply(url string, conns int, d time.Duration) (float64, error) {
	resp, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	if _, err := resp.Subscribe("bench.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return 0, err
	}
	if err := resp.Flush(); err != nil {
		return 0, err
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	deadline := time.Now().Add(d)
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := nats.Connect(url)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			for time.Now().Before(deadline) {
				if _, err := nc.Request("bench.echo", payload128, 5*time.Second); err != nil {
					errs <- err
					return
				}
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

// pubSub measures how fast one publisher's messages reach one subscriber:
// messages received per second, from the first publish to the last
// receipt.
func pubSub(url string, d time.Duration) (float64, error) {
	sub, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	var got atomic.Int64
	done := make(chan struct{})
	var want atomic.Int64
	want.Store(-1)
	s, err := sub.Subscribe("bench.pub", func(*nats.Msg) {
		if n := got.Add(1); n == want.Load() {
			close(done)
		}
	})
	if err != nil {
		return 0, err
	}
	_ = s.SetPendingLimits(-1, -1)
	if err := sub.Flush(); err != nil {
		return 0, err
	}
	pub, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	start := time.Now()
	deadline := start.Add(d)
	var sent int64
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			if err := pub.Publish("bench.pub", payload128); err != nil {
				return 0, err
			}
		}
		sent += 1000
		// Keep the publisher within reach of the subscriber so the
		// measurement is delivered throughput, not buffering.
		if sent-got.Load() > 200_000 {
			if err := pub.Flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := pub.Flush(); err != nil {
		return 0, err
	}
	want.Store(sent)
	if got.Load() == sent {
		return float64(sent) / time.Since(start).Seconds(), nil
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("subscriber got %d of %d", got.Load(), sent)
	}
	return float64(sent) / time.Since(start).Seconds(), nil
}
