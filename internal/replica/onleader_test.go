package replica

import (
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// TestOnLeaderRegisteredAfterElection: a function registered with
// OnLeader once the replica already leads (and told the functions
// registered before) is told true too. jsapi registers its function
// only after Start returned, when a new group's first peer may lead
// already: such a stream never subscribed its subjects, and every
// publish to the bucket got no responders until the next election.
func TestOnLeaderRegisteredAfterElection(t *testing.T) {
	g := newGroup(t, store.Config{Name: "KV_b", Subjects: []string{"$KV.b.>"}})
	first := make(chan *Stream, len(g.streams))
	for _, s := range g.streams {
		s.OnLeader(func(leader bool) {
			if leader {
				first <- s
			}
		})
	}
	var l *Stream
	select {
	case l = <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("no replica told it leads")
	}
	late := make(chan bool, 1)
	l.OnLeader(func(leader bool) {
		select {
		case late <- leader:
		default:
		}
	})
	select {
	case leader := <-late:
		if !leader && l.IsLeader() {
			t.Fatal("a function registered on the leader was told false")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a function registered after the replica led was never told")
	}
}
