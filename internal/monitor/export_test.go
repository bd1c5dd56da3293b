package monitor

import "time"

// SetIdleTimeout sets how long the monitor keeps an idle keep-alive
// connection, for monitors started after it, and returns the function
// that puts the previous value back.
func SetIdleTimeout(d time.Duration) (restore func()) {
	old := idleTimeout
	idleTimeout = d
	return func() { idleTimeout = old }
}
