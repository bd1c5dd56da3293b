package jsfront

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCloseWaitsForEverything: once Close returns, the front calls the
// metadata group no more (the daemon closes the group next), however
// requests race with it.
func TestCloseWaitsForEverything(t *testing.T) {
	for range 300 {
		var closed, late atomic.Bool
		r := newRig(t, nil)
		r.net.peers = nil
		r.meta.placeFn = func(_ context.Context, _, _, node string) (string, error) {
			if closed.Load() {
				late.Store(true)
			}
			return node, nil
		}
		r.local.setConfig("A", "S", json.RawMessage(`{}`))
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if g%2 == 0 {
						q, _ := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, []byte(`{}`), &fakeCaller{})
						r.f.route(q)
					} else {
						r.f.served("A", "$JS.API.STREAM.CREATE.S", "S")
					}
				}
			}()
		}
		r.f.Close()
		closed.Store(true)
		wg.Wait()
		r.f.Close() // the goroutines started after Close are waited for here, if any
		if late.Load() {
			t.Fatal("the metadata group was called after Close returned")
		}
		for len(r.meta.changed) > 0 {
			<-r.meta.changed
		}
	}
}
