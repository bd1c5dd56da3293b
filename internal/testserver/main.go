package testserver

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// RunMain is the TestMain of the black-box test packages: it runs the
// tests, removes the binaries built for them ([RemoveBinaries]) and, when
// they passed, fails the run if a goroutine outlives them, except those
// nats.go leaves behind for a moment after a connection's Close.
func RunMain(m *testing.M) {
	code := m.Run()
	RemoveBinaries()
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreTopFunction("github.com/nats-io/nats.go.(*Conn).flusher"),
			goleak.IgnoreTopFunction("github.com/nats-io/nats.go.(*Conn).readLoop"),
			goleak.IgnoreTopFunction("github.com/nats-io/nats.go.(*asyncCallbacksHandler).asyncCBDispatcher"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}
