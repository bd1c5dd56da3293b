package consumer

import (
	"errors"
	"time"
)

// DeliverPolicy says where a consumer starts.
type DeliverPolicy int

const (
	// DeliverAll starts at the first message.
	DeliverAll DeliverPolicy = iota
	// DeliverLast starts at the last message matching the filters.
	DeliverLast
	// DeliverNew starts after the last message stored at creation.
	DeliverNew
	// DeliverByStartSequence starts at Config.OptStartSeq.
	DeliverByStartSequence
	// DeliverByStartTime starts at the first message stored at or after
	// Config.OptStartTime.
	DeliverByStartTime
	// DeliverLastPerSubject first delivers the last message of every
	// matching subject, then everything new.
	DeliverLastPerSubject
)

// Config is a push consumer's configuration, as far as delivery goes.
// The JSON form and its validation against nats-server's rules live in
// package jsapi.
type Config struct {
	Name           string
	DeliverSubject string
	DeliverPolicy  DeliverPolicy
	OptStartSeq    uint64
	OptStartTime   time.Time
	// FilterSubjects restricts delivery to matching subjects; empty
	// means every subject. The filters must not overlap.
	FilterSubjects []string
	// HeadersOnly delivers headers without the payload, adding
	// Nats-Msg-Size with the payload's length.
	HeadersOnly bool
	FlowControl bool
	// IdleHeartbeat is the idle time after which a heartbeat is sent; 0
	// disables heartbeats.
	IdleHeartbeat time.Duration
	// InactiveThreshold is how long the deliver subject may lack
	// interest before the consumer removes itself; 0 means
	// DefaultInactiveThreshold.
	InactiveThreshold time.Duration
}

// DefaultInactiveThreshold is nats-server's for ephemeral consumers.
const DefaultInactiveThreshold = 5 * time.Second

// DefaultSnapshotInterestWait is how long a last_per_subject consumer
// (a watch, a key listing) holding its snapshot waits for a subscriber
// on its deliver subject, whatever its inactive threshold, before it
// removes itself and releases the snapshot (Consumer.interestLimit).
const DefaultSnapshotInterestWait = 30 * time.Second

// Errors returned by Manager.Create and friends. jsapi maps them onto
// wire error codes.
var (
	ErrNotFound      = errors.New("consumer: not found")
	ErrExists        = errors.New("consumer: already exists with a different configuration")
	ErrNoDeliver     = errors.New("consumer: a push consumer needs a deliver subject")
	ErrStreamGone    = errors.New("consumer: stream deleted")
	ErrClosedManager = errors.New("consumer: manager closed")
)
