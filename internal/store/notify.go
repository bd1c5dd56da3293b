package store

import "sync/atomic"

// Delivery to subscribers. Appends (and the expirer's markers) queue
// their messages in stream.pending under the stream lock, in sequence
// order. Once its write is durable, the writer calls deliver with its
// sequence: under deliverMu it takes every pending message up to that
// sequence (a message is durable once any later one is, as the log is
// sequential) and calls the subscribers. Because taking and calling
// happen under deliverMu, subscribers see sequence order, and a writer
// returns only after its own message was delivered, by itself or by a
// later writer that took it.

type subscriber struct {
	fn        func(*Msg)
	cancelled atomic.Bool
}

func (s *stream) Subscribe(fn func(*Msg)) (cancel func()) {
	sub := &subscriber{fn: fn}
	s.subsMu.Lock()
	s.subs = append(s.subs[:len(s.subs):len(s.subs)], sub)
	s.subsMu.Unlock()
	return func() {
		sub.cancelled.Store(true)
		s.subsMu.Lock()
		subs := make([]*subscriber, 0, len(s.subs))
		for _, x := range s.subs {
			if x != sub {
				subs = append(subs, x)
			}
		}
		s.subs = subs
		s.subsMu.Unlock()
	}
}

// deliver passes the pending messages up to seq to the subscribers.
func (s *stream) deliver(seq uint64) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.mu.Lock()
	n := 0
	for n < len(s.pending) && s.pending[n].Seq <= seq {
		n++
	}
	batch := s.pending[:n:n]
	s.pending = s.pending[n:]
	if len(s.pending) == 0 {
		s.pending = nil
	}
	s.mu.Unlock()
	if n == 0 {
		return
	}
	s.subsMu.Lock()
	subs := s.subs
	s.subsMu.Unlock()
	for _, m := range batch {
		for _, sub := range subs {
			if !sub.cancelled.Load() {
				sub.fn(m)
			}
		}
	}
}
