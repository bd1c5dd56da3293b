package cluster

import (
	"fmt"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// In-process deliveries from a route. A route's reader delivers to
// client subscriptions itself (appending to their output buffers never
// blocks; after each read it flushes them, waiting at most 10ms in
// all for those far behind: server.RouteFlush), but an
// in-process handler may take its time (a stream write waits for its
// group commit), so the reader queues those
// deliveries for the route's worker goroutine, which runs them one by
// one in arrival order: a client's put, then its get, reach the stream
// in that order. The queue is bounded in messages and bytes. A reader
// that finds it full waits for the worker, at most one ping interval
// (so the peer's PINGs are answered in time), which slows the peer's
// sending down through TCP rather than cutting a route that is merely
// behind for a moment; a peer that keeps it full is cut as a slow
// route, and its dialer reconnects.

// work is one queued delivery.
type work struct {
	forwarded bool             // RFWD: to the node-local subscriptions (DeliverForwarded)
	handlers  []server.Handler // RMSG/RMSGAS: the handlers chosen on the reader
	account   string
	subject   string
	reply     string
	hdrLen    int
	data      []byte // header followed by payload, owned by the queue
}

// size is what a queued delivery counts against MaxInProcessBytes.
func (w *work) size() int { return len(w.data) + len(w.subject) + len(w.reply) + 64 }

// workQueue is a route's queue of in-process deliveries.
type workQueue struct {
	mu struct {
		sync.Mutex
		items []work // not yet taken by the worker
		count int    // queued and not yet run, taken or not
		bytes int    // the size of those
	}
	wake  chan struct{} // the worker's: work was queued
	space chan struct{} // the reader's: the worker took some
}

// errSlowWorker cuts a route whose in-process backlog passed its bound.
var errSlowWorker = fmt.Errorf("cluster: in-process delivery backlog over its bound")

// enqueue queues w (whose slices it now owns). While the backlog
// would pass the bounds it waits for the worker, up to a ping
// interval, then reports an error (the route is to be cut).
func (r *route) enqueue(w work) error {
	q := &r.work
	var timer *time.Timer
	for {
		q.mu.Lock()
		n, b := q.mu.count, q.mu.bytes
		if n == 0 || (n < r.c.opts.MaxInProcessMsgs && b+w.size() <= r.c.opts.MaxInProcessBytes) {
			q.mu.items = append(q.mu.items, w)
			q.mu.count++
			q.mu.bytes += w.size()
			q.mu.Unlock()
			break
		}
		q.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(r.c.opts.PingInterval)
			defer timer.Stop()
		}
		select {
		case <-q.space:
			continue
		case <-r.done:
			return errSlowWorker
		case <-timer.C:
		}
		r.c.log.Warnf("Slow route from %s: %d in-process deliveries (%d bytes) pending, closing", r.peer.Name, n, b)
		return errSlowWorker
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// workLoop runs the queued deliveries until the route closes; what is
// still queued then is dropped, as messages in flight on a cut route.
func (r *route) workLoop() {
	defer r.c.wg.Done()
	q := &r.work
	var batch []work
	for {
		select {
		case <-r.done:
			return
		case <-q.wake:
		}
		q.mu.Lock()
		batch, q.mu.items = q.mu.items, batch[:0]
		q.mu.Unlock()
		for i := range batch {
			select {
			case <-r.done:
				return
			default:
			}
			w := &batch[i]
			hdr, payload := w.data[:w.hdrLen], w.data[w.hdrLen:]
			if w.forwarded {
				r.c.srv.DeliverForwarded(w.account, []byte(w.subject), []byte(w.reply), hdr, payload)
			} else {
				server.RunRouted(w.handlers, w.subject, w.reply, hdr, payload)
			}
			q.mu.Lock()
			q.mu.count--
			q.mu.bytes -= w.size()
			q.mu.Unlock()
			*w = work{}
			select {
			case q.space <- struct{}{}:
			default:
			}
		}
	}
}

// queueDelivery copies a routed message's in-process part (handlers
// chosen by the server) or a forwarded message into the queue.
func (r *route) queueDelivery(o *op, handlers []server.Handler) error {
	w := work{
		forwarded: o.kind == opFwd,
		account:   string(o.account),
		subject:   string(o.subject),
		hdrLen:    o.hdrLen,
		data:      append([]byte(nil), o.data...),
	}
	if len(o.reply) > 0 {
		w.reply = string(o.reply)
	}
	if len(handlers) > 0 {
		w.handlers = append([]server.Handler(nil), handlers...)
	}
	return r.enqueue(w)
}
