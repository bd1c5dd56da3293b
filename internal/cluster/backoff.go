package cluster

import (
	"math/rand/v2"
	"time"
)

// backoff yields reconnect delays: doubling from 50 ms up to 2 s, each
// with up to 50 % random jitter, so nodes that lost each other at the
// same moment do not redial in lock step.
type backoff struct{ d time.Duration }

const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
)

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = backoffMin
	} else if b.d *= 2; b.d > backoffMax {
		b.d = backoffMax
	}
	return b.d/2 + rand.N(b.d/2+1)
}

func (b *backoff) reset() { b.d = 0 }
