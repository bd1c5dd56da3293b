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
