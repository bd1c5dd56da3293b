package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/cairn-db/cairn/internal/testcert"
)

// tlsMode writes a self-signed certificate for 127.0.0.1 into dir and
// returns the tls block both servers get and natscli's options to trust
// it.
func tlsMode(dir string) (conf string, clientArgs []string) {
	cert, key := testcert.SelfSigned(exitOnFatal{}, dir, "bench")
	conf = fmt.Sprintf("tls { cert_file: %q, key_file: %q }\n", cert, key)
	return conf, []string{"--tlsca", cert}
}

// exitOnFatal lets internal/testcert, written for tests, run in this
// command: testcert only calls Helper and Fatal, and the embedded nil
// testing.TB is never reached.
type exitOnFatal struct{ testing.TB }

func (exitOnFatal) Helper() {}

func (exitOnFatal) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"kv bench: making the TLS certificate:"}, args...)...)
	os.Exit(1)
}
