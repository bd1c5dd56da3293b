package cluster

import "testing"

func TestBackoffBoundedAndJittered(t *testing.T) {
	var b backoff
	seen := map[int64]bool{}
	for i := range 200 {
		d := b.next()
		if d < backoffMin/2 || d > backoffMax {
			t.Fatalf("delay %d = %v, outside [%v, %v]", i, d, backoffMin/2, backoffMax)
		}
		if i > 10 {
			if d < backoffMax/2 {
				t.Fatalf("delay %d = %v, below half the cap", i, d)
			}
			seen[int64(d)] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays at the cap: no jitter", len(seen))
	}
	b.reset()
	if d := b.next(); d > backoffMin {
		t.Fatalf("after reset %v, want at most %v", d, backoffMin)
	}
}
