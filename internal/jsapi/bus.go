package jsapi

// Handler receives one message published on the bus. It runs on the
// publisher's goroutine; subject, reply, hdr and data are only valid
// during the call. hdr is the raw header block ("NATS/1.0\r\n...\r\n\r\n")
// or nil.
type Handler func(subject, reply string, hdr, data []byte)

// Bus is the part of the core NATS server that jsapi uses: in-process
// subscriptions (which count as interest, so requests to them do not
// get a no-responders status) and publishing to every matching
// subscriber, client or in-process. Both methods are safe for concurrent
// use, and Publish may be called from within a Handler.
type Bus interface {
	// Subscribe registers h for subject (wildcards allowed) and returns
	// a function that removes the subscription.
	Subscribe(subject string, h Handler) (unsubscribe func(), err error)
	// Publish delivers a message to every subscription matching subject.
	// The slices are not retained after it returns.
	Publish(subject, reply string, hdr, data []byte)
}

// Drainer is a Bus that can wait for the client behind a subject to
// read what it was sent: a handler sending a large answer calls
// WaitDrained between parts, so the answer goes out at the client's pace
// (serverbus). Without it an answer is bounded instead.
type Drainer interface {
	// WaitDrained returns once the clients subscribed to subject hold
	// limit bytes or less of unwritten output, or after the server's
	// write deadline. It reports whether anyone still listens on
	// subject (false: the requester is gone, stop answering).
	WaitDrained(subject string, limit int) bool
}

// Caller stands for the client that sent a request: where the server
// may publish on its behalf. A nil Caller is unrestricted (an
// in-process request, or a client without permissions). Its methods
// must be called during the handler.
type Caller interface {
	// MayBeAnsweredOn reports whether subject is one the server may
	// publish to on the client's behalf (internal/server's reply rule:
	// a subject it may publish to, or an inbox of its own).
	MayBeAnsweredOn(subject string) bool
	// MayPublishAll reports whether the client may publish to every
	// subject pattern matches.
	MayPublishAll(pattern string) bool
	// MaySubscribeAll reports whether the client may receive every
	// subject pattern matches, with no delivery filter.
	MaySubscribeAll(pattern string) bool
}

// CallerHandler is a Handler that is also told who sent the message.
type CallerHandler func(c Caller, subject, reply string, hdr, data []byte)

// CallerBus is a Bus that can tell handlers who sent each message. The
// API uses it, when its bus has it, to refuse a consumer whose deliver
// subject the requester may not publish to.
type CallerBus interface {
	Bus
	SubscribeCaller(subject string, h CallerHandler) (unsubscribe func(), err error)
}
