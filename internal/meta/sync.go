package meta

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-db/cairn/internal/repl"
)

// Sync returns once this node's applied state holds every assignment
// committed before the call (Raft's read index), so that a Lookup after
// it sees a stream whose creation was acknowledged anywhere in the
// cluster. It returns ErrUnavailable when the group cannot confirm that
// (no leader or quorum) before ctx ends, ErrClosed when closed.
func (g *Group) Sync(ctx context.Context) error {
	n, err := g.waitNode(ctx)
	if err != nil {
		return err
	}
	err = n.ReadIndex(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, repl.ErrClosed):
		return ErrClosed
	case errors.Is(err, repl.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
