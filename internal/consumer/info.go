package consumer

import "time"

// SequenceInfo is a position in the consumer and in the stream.
type SequenceInfo struct {
	Consumer, Stream uint64
	Last             time.Time // zero before the first delivery
}

// Info is a snapshot of a consumer's state.
type Info struct {
	Stream     string
	Name       string
	Created    time.Time
	Config     Config
	Delivered  SequenceInfo
	NumPending uint64
	PushBound  bool
}

// Info returns the consumer's state. With acknowledgements off, the ack
// floor equals Delivered.
//
// The first call returns the state as of creation, however much was
// delivered meanwhile; later calls return the current state. The first
// call is the create response, and a client counts its initial data
// from that response's NumPending while delivery may already have
// begun (nats.go's KV watcher signals the end of the initial data once
// it received that many messages). nats-server keeps the same "initial
// info" for its create response. For last_per_subject the count at
// creation is exactly the snapshot: the initial data.
func (c *Consumer) Info() Info {
	c.mu.Lock()
	first := c.mu.atCreation
	c.mu.atCreation = nil
	c.mu.Unlock()
	if first != nil {
		first.PushBound = c.bus.HasInterest(c.cfg.DeliverSubject)
		return *first
	}
	return c.currentInfo()
}

// currentInfo is Info as of now. NumPending counts the snapshot
// messages not yet delivered plus the matching messages stored after
// the live position.
func (c *Consumer) currentInfo() Info {
	c.mu.Lock()
	sseq, dseq, last, lastActive, initial := c.mu.sseq, c.mu.dseq, c.mu.lastStream, c.mu.lastActive, c.mu.initial
	c.mu.Unlock()
	info := Info{
		Stream:    c.sname,
		Name:      c.cfg.Name,
		Created:   c.created,
		Config:    c.cfg,
		PushBound: c.bus.HasInterest(c.cfg.DeliverSubject),
	}
	info.Delivered = SequenceInfo{Consumer: dseq, Stream: last, Last: lastActive}
	if dseq == 0 {
		// Before any delivery nats-server reports the position just
		// before the start.
		info.Delivered.Stream = max(sseq, 1) - 1
	}
	info.NumPending = initial + c.pendingAfter(max(sseq, 1)-1)
	return info
}
