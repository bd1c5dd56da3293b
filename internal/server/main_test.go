package server_test

import (
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs a server on a free loopback port for one test.
func startServer(t testing.TB, opts server.Options) *server.Server {
	t.Helper()
	opts.Host = "127.0.0.1"
	if opts.Port == 0 {
		opts.Port = -1
	}
	if opts.Logger == nil {
		opts.Logger = server.NewLogger(io.Discard, false, false)
	}
	s, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}
