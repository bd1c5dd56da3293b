package main

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	for _, tc := range []struct {
		name    string
		ends    []int64
		elapsed time.Duration
		gap, at time.Duration
	}{
		{"none", nil, time.Second, time.Second, 0},
		{"middle", []int64{ms(100), ms(150), ms(900), ms(950)}, time.Second, 750 * time.Millisecond, 150 * time.Millisecond},
		{"tail", []int64{ms(100), ms(200)}, time.Second, 800 * time.Millisecond, 200 * time.Millisecond},
		{"unsorted", []int64{ms(900), ms(100), ms(950)}, time.Second, 800 * time.Millisecond, 100 * time.Millisecond},
	} {
		var acked []event
		for _, e := range tc.ends {
			acked = append(acked, event{End: e})
		}
		gap, at := longestGap(acked, tc.elapsed)
		if gap != tc.gap || at != tc.at {
			t.Errorf("%s: got %v at %v, want %v at %v", tc.name, gap, at, tc.gap, tc.at)
		}
	}
}

func TestOutcome(t *testing.T) {
	if outcome(nil) != "ok" {
		t.Error("nil is not ok")
	}
	if got := outcome(errTimeout{}); got != "unknown" {
		t.Errorf("a time-out: %s, want unknown", got)
	}
}

type errTimeout struct{}

func (errTimeout) Error() string { return "timeout" }
