package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestHostileRefusedCreatesLeaveNoPlacement: a client floods STREAM.CREATE
// with new names and a configuration every holder refuses (three
// replicas); each is answered with an error, and once they are the
// metadata group holds no placement for any of them on either node (a
// refused placement forwarded to a peer that had not applied it yet was
// left behind, reserving the name for ever).
func TestHostileRefusedCreatesLeaveNoPlacement(t *testing.T) {
	users := jsUsers(t)
	n1 := startJSClusterNode(t, "n1", users)
	n2 := startJSClusterNode(t, "n2", users, "nats://"+n1.Cluster().Addr().String())
	nc := jsConnect(t, n1, "admin")
	waitUntil(t, "filler stream created", func() bool {
		m := nats.NewMsg("$JS.API.STREAM.CREATE.FILLER")
		m.Data = []byte(`{"name":"FILLER","subjects":["filler"],"storage":"memory"}`)
		resp, err := nc.RequestMsg(m, 2*time.Second)
		return err == nil && jsDecodeAnswer(t, resp.Data).Error == nil
	})
	waitUntil(t, "both nodes connected", func() bool { return len(n1.Cluster().PeerNames()) == 1 })
	const count = 60
	for i := range count {
		name := fmt.Sprintf("R%03d", i)
		a := jsAPIRequest(t, nc, "$JS.API.STREAM.CREATE."+name, nil,
			`{"name":"`+name+`","subjects":["r.`+name+`"],"storage":"memory","num_replicas":3}`)
		if a.Error == nil {
			t.Fatalf("%s with three replicas created: %s", name, a.raw)
		}
	}
	acc := n1.srv.Account("").Name()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := map[string]int{}
		for name, d := range map[string]*Daemon{"n1": n1, "n2": n2} {
			for _, as := range d.jsc.meta.Streams(acc) {
				if as.Stream != "FILLER" {
					left[name]++
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("placements of refused streams left: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
