package replica

import "fmt"

// catchUp brings the local store up to at least log index applied from
// a peer, after a snapshot said the group's state is past what this
// replica holds (it was down while the log was compacted, or its store
// directory is new).
func (s *Stream) catchUp(applied uint64) error {
	return fmt.Errorf("%w: stream %s holds index %d, the snapshot needs %d", ErrNoCatchUp, s.st.Name(), s.st.Applied(), applied)
}
