package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestTxnScripts runs testdata/kv_txn/*.txtar (kv txn, get with several
// keys, snapshot, edit --allow-txn) against the nats-server peer and against
// cairn.
func TestTxnScripts(t *testing.T) {
	for _, kind := range []string{"peer", "cairn"} {
		t.Run(kind, func(t *testing.T) {
			t.Setenv("CAIRN_TEST_SERVER", kind)
			testscript.Run(t, scriptParams(t, "testdata/kv_txn"))
		})
	}
}
