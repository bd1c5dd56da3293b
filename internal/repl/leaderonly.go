package repl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
)

// Leader-only proposals (Config.LeaderOnly): a stream group's writes
// go into its leader's own log, in the term it leads in, or nowhere.

// ErrNotLeader: a proposal to a Config.LeaderOnly node that does not
// lead; nothing was proposed.
var ErrNotLeader = errors.New("repl: not the leader")

// proposeAsLeader is Propose on a Config.LeaderOnly node: the proposal
// goes into this node's log in the term it leads in now, or nowhere.
func (n *Node) proposeAsLeader(ctx context.Context, buf []byte, ch chan any) (any, error) {
	term := n.rn.leaderTerm()
	if term == 0 {
		return nil, ErrNotLeader
	}
	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	taken := false
	for {
		if !taken {
			switch _, err := n.rn.proposeInTerm(buf, term); {
			case err == nil:
				taken = true
			case errors.Is(err, raft.ErrProposalDropped):
				// past the bound on uncommitted entries: next tick
			default:
				return nil, n.proposeErr(ctx, err)
			}
		}
		select {
		case r := <-ch:
			return r, nil
		case <-tick.C:
			if taken && n.rn.leaderTerm() != term {
				// It may still commit, under the next leader.
				return nil, fmt.Errorf("%w: the leadership changed", ErrUnavailable)
			}
		case <-ctx.Done():
			return nil, n.proposeErr(ctx, ctx.Err())
		case <-n.done:
			return nil, ErrClosed
		}
	}
}
