//go:build !unix

package monitor

import "time"

// cpuTime is not measured here: /varz reports cpu 0.
func cpuTime() time.Duration { return 0 }
