package repl

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind says what a frame's payload is.
type Kind byte

// Frame kinds. Values are on the wire: append, never renumber.
const (
	// KindRaft carries one raftpb.Message (protobuf) of group Group.
	KindRaft Kind = 1
	// KindHello carries a metadata-group hello (internal/meta, JSON).
	KindHello Kind = 2
	// KindJoin carries a request to join the metadata group (JSON).
	KindJoin Kind = 3
	// KindCatchup carries a stream group's catch-up request, and
	// KindCatchupData its answer (internal/replica): a replica behind a
	// snapshot fetches the stream from a peer.
	KindCatchup     Kind = 4
	KindCatchupData Kind = 5
)

// frameVersion is the first byte of every frame.
const frameVersion = 1

// MetaGroup is the group id of the cluster's metadata group. Stream
// groups (issue 15) take other ids.
const MetaGroup uint64 = 0

// ErrFrame marks a frame that does not parse.
var ErrFrame = errors.New("repl: malformed frame")

// Frame is one transport frame. Layout:
//
//	version (1 byte, 1) | kind (1 byte) | cluster (8 bytes, big endian) |
//	group (uvarint) | payload (the rest)
//
// Cluster is the metadata group's cluster id (0 from a node that has
// none yet); a receiver drops Raft frames of a cluster other than its
// own, so two groups that meet can never exchange votes or entries.
type Frame struct {
	Kind    Kind
	Cluster uint64
	Group   uint64
	Payload []byte
}

// AppendFrame appends f's encoding to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = append(dst, frameVersion, byte(f.Kind))
	dst = binary.BigEndian.AppendUint64(dst, f.Cluster)
	dst = binary.AppendUvarint(dst, f.Group)
	return append(dst, f.Payload...)
}

// ParseFrame decodes b. The returned Payload aliases b.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < 10 {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrFrame, len(b))
	}
	if b[0] != frameVersion {
		return Frame{}, fmt.Errorf("%w: version %d", ErrFrame, b[0])
	}
	f := Frame{Kind: Kind(b[1]), Cluster: binary.BigEndian.Uint64(b[2:10])}
	g, n := binary.Uvarint(b[10:])
	if n <= 0 {
		return Frame{}, fmt.Errorf("%w: bad group id", ErrFrame)
	}
	f.Group = g
	f.Payload = b[10+n:]
	return f, nil
}
