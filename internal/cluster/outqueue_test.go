package cluster

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
)

// TestOutQueue: whatever mix of small and large appends, the bytes
// written are the bytes queued, in order, and the size counts them.
func TestOutQueue(t *testing.T) {
	for round := range 20 {
		var q outQueue
		var want bytes.Buffer
		for range 200 {
			p := make([]byte, rand.IntN(3*chunkSize))
			for i := range p {
				p[i] = byte(rand.IntN(256))
			}
			if rand.IntN(2) == 0 {
				q.add(p)
			} else {
				q.setTail(append(q.tail(len(p)), p...))
			}
			want.Write(p)
		}
		if q.size != want.Len() {
			t.Fatalf("round %d: size %d, queued %d", round, q.size, want.Len())
		}
		a, b := net.Pipe()
		got := make(chan []byte)
		go func() {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(b)
			got <- buf.Bytes()
		}()
		bufs, size := q.take()
		n, err := writeChunks(a, bufs)
		a.Close()
		if err != nil || n != int64(size) {
			t.Fatalf("round %d: wrote %d of %d: %v", round, n, size, err)
		}
		if g := <-got; !bytes.Equal(g, want.Bytes()) {
			t.Fatalf("round %d: %d bytes read differ from the %d queued", round, len(g), want.Len())
		}
		if q.size != 0 || len(q.bufs) != 0 {
			t.Fatalf("round %d: queue not empty after take", round)
		}
	}
}
