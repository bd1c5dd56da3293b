package meta

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestHostileWipedMemberLosesCommitted: in a group of three, S is
// committed by the leader and one follower W while the third, Z, is cut
// off. W then loses its log (a wiped store directory) and comes back
// under its old id; the leader goes away. Z and the empty W must not
// form a majority that lacks S: a committed placement would be lost,
// and S could then be created a second time on another node.
func TestHostileWipedMemberLosesCommitted(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	dirs := map[string]string{}
	for _, name := range all {
		dirs[name] = filepath.Join(t.TempDir(), name)
		n.start(name, dirs[name], nil)
	}
	waitFormed(t, n, all)
	leader := n.group("n1").Leader()
	others := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == leader })
	w, z := others[0], others[1]
	n.partition([]string{z})
	assign(t, n.group(leader), assignment("S", leader))
	waitAssigned(t, n, []string{leader, w}, "S", leader)

	n.stop(w)
	n.start(w, filepath.Join(t.TempDir(), w+"-wiped"), nil) // the same name, an empty directory
	n.stop(leader)
	n.heal()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	a, err := n.group(z).Assign(ctx, assignment("S", z))
	if err == nil && a.Node != leader {
		t.Fatalf("S, committed on %s, was placed again on %s by %s and the wiped %s", leader, a.Node, z, w)
	}
}

// TestHostileWipedMemberCatchesUp: a member that lost its log and came
// back while the others ran catches up and votes again, so the group
// survives the loss of another node afterwards.
func TestHostileWipedMemberCatchesUp(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	for _, name := range all {
		n.start(name, filepath.Join(t.TempDir(), name), nil)
	}
	waitFormed(t, n, all)
	leader := n.group("n1").Leader()
	others := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == leader })
	w, z := others[0], others[1]
	assign(t, n.group(leader), assignment("S", leader))
	n.stop(w)
	n.start(w, filepath.Join(t.TempDir(), w+"-wiped"), nil)
	waitAssigned(t, n, all, "S", leader)
	if n.logged("asks to join again") == 0 {
		t.Error("the leader did not log the member that lost its log")
	}
	n.stop(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := n.group(z).Assign(ctx, assignment("T", z))
	if err != nil || a.Node != z {
		t.Fatalf("Assign after the leader went: %+v, %v", a, err)
	}
	if got, ok := n.group(w).Lookup("A", "S"); !ok || got.Node != leader {
		t.Fatalf("S on the rejoined member: %+v %v", got, ok)
	}
}

// TestHostileJoinersRestartTogether: n2 and n3 joined n1's group (seed
// topology) and caught up; the whole cluster then restarts from its
// directories. The joiners must vote again, or no leader is ever
// elected.
func TestHostileJoinersRestartTogether(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	dirs := map[string]string{}
	for _, name := range all {
		dirs[name] = filepath.Join(t.TempDir(), name)
	}
	n.start("n1", dirs["n1"], nil)
	waitFormed(t, n, []string{"n1"})
	seedReady := func(o *Options) {
		o.SeedsReady = func() bool { return slices.Contains(o.Transport.Peers(), "n1") }
	}
	n.start("n2", dirs["n2"], seedReady)
	n.start("n3", dirs["n3"], seedReady)
	waitFormed(t, n, all)
	assign(t, n.group("n1"), assignment("S", "n1"))
	waitAssigned(t, n, all, "S", "n1")
	for _, name := range all {
		n.stop(name)
	}
	for _, name := range all {
		n.start(name, dirs[name], seedReady)
	}
	waitFormed(t, n, all)
	assign(t, n.group("n2"), assignment("T", "n2"))
	// Again, with n1 gone for good: n2 and n3, caught up before they
	// stopped, elect one of them.
	time.Sleep(300 * time.Millisecond)
	for _, name := range all {
		n.stop(name)
	}
	n.start("n2", dirs["n2"], nil)
	n.start("n3", dirs["n3"], nil)
	assign(t, n.group("n3"), assignment("U", "n3"))
}

// TestHostileJoinersOutliveSeed: n2 and n3 joined n1's group and never
// had to vote; n1 goes away. They elect one of them.
func TestHostileJoinersOutliveSeed(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	n.start("n1", "", nil)
	waitFormed(t, n, []string{"n1"})
	seedReady := func(o *Options) {
		o.SeedsReady = func() bool { return slices.Contains(o.Transport.Peers(), "n1") }
	}
	n.start("n2", "", seedReady)
	n.start("n3", "", seedReady)
	waitFormed(t, n, all)
	assign(t, n.group("n1"), assignment("S", "n1"))
	waitAssigned(t, n, all, "S", "n1")
	time.Sleep(300 * time.Millisecond) // heartbeats after the last entry
	n.stop("n1")
	assign(t, n.group("n2"), assignment("T", "n2"))
}

// TestHostileJoinersRestartWithoutSeed: n2 and n3 joined n1's group,
// caught up and never had to vote; all stop, and only n2 and n3 come
// back (n1 is gone for good). They elect one of them.
func TestHostileJoinersRestartWithoutSeed(t *testing.T) {
	n := newNetwork(t)
	all := names("n", 3)
	dirs := map[string]string{}
	for _, name := range all {
		dirs[name] = filepath.Join(t.TempDir(), name)
	}
	n.start("n1", dirs["n1"], nil)
	waitFormed(t, n, []string{"n1"})
	seedReady := func(o *Options) {
		o.SeedsReady = func() bool { return slices.Contains(o.Transport.Peers(), "n1") }
	}
	n.start("n2", dirs["n2"], seedReady)
	n.start("n3", dirs["n3"], seedReady)
	waitFormed(t, n, all)
	assign(t, n.group("n1"), assignment("S", "n1"))
	waitAssigned(t, n, all, "S", "n1")
	time.Sleep(300 * time.Millisecond) // heartbeats after the last entry
	for _, name := range all {
		n.stop(name)
	}
	n.start("n2", dirs["n2"], nil)
	n.start("n3", dirs["n3"], nil)
	assign(t, n.group("n3"), assignment("U", "n3"))
	if n.logged("panic") > 0 {
		t.Fatal("panic")
	}
}
