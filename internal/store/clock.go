package store

import (
	"sync"
	"time"
)

// Clock is the store's source of time: message timestamps, MaxAge,
// per-message TTLs and the duplicate window all follow it. The default
// is the system clock; tests use a ManualClock to drive expiry without
// sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// At returns a channel that receives once this clock reaches
	// deadline (at once if it already has), and a function that releases
	// the timer early. The deadline is absolute, so a clock that moves
	// while the timer is being set cannot make it fire late.
	At(deadline time.Time) (<-chan time.Time, func())
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) At(deadline time.Time) (<-chan time.Time, func()) {
	t := time.NewTimer(time.Until(deadline))
	return t.C, func() { t.Stop() }
}

// ManualClock is a Clock that moves only when told to. It is safe for
// concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*manualTimer]struct{}
}

type manualTimer struct {
	at time.Time
	ch chan time.Time
}

var _ Clock = (*ManualClock)(nil)

// NewManualClock returns a clock set to start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, timers: make(map[*manualTimer]struct{})}
}

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// At returns a channel that fires once Advance or Set reaches deadline.
func (c *ManualClock) At(deadline time.Time) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{at: deadline, ch: make(chan time.Time, 1)}
	if !deadline.After(c.now) {
		t.ch <- c.now
		return t.ch, func() {}
	}
	c.timers[t] = struct{}{}
	return t.ch, func() {
		c.mu.Lock()
		delete(c.timers, t)
		c.mu.Unlock()
	}
}

// Advance moves the clock forward by d and fires the timers it passes.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.setLocked(c.now.Add(d))
	c.mu.Unlock()
}

// Set moves the clock to t (which may be in the past: timestamps then
// stay at their last value until the clock catches up).
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.setLocked(t)
	c.mu.Unlock()
}

func (c *ManualClock) setLocked(t time.Time) {
	c.now = t
	for tm := range c.timers {
		if !tm.at.After(t) {
			tm.ch <- t
			delete(c.timers, tm)
		}
	}
}
