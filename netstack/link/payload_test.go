package link

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPayload checks a frame arrives whole in gVisor's buffer, however the
// device split it, a large one with its headers in a chunk of their own.
func TestPayload(t *testing.T) {
	for _, n := range []int{14, 200, 2 * headerSplit, 2*headerSplit + 1, 1514, 65226} {
		frame := make([]byte, n)
		for i := range frame {
			frame[i] = byte(i * 7)
		}
		for _, cut := range []int{n, 10, headerSplit, 2036, 244} {
			var pieces [][]byte
			for rest := frame; len(rest) > 0; {
				k := min(cut, len(rest))
				pieces = append(pieces, rest[:k])
				rest = rest[k:]
			}
			b := payload(pieces, n)
			require.Equal(t, frame, b.Flatten(), "%d bytes in pieces of %d", n, cut)
			views := b.AsViewList()
			if n > 2*headerSplit {
				require.Equal(t, 2, views.Len(), "%d bytes", n)
				require.GreaterOrEqual(t, views.Front().Size(), headerSplit)
			} else {
				require.Equal(t, 1, views.Len(), "%d bytes", n)
			}
			b.Release()

			var hb [headerSplit]byte
			m := gather(hb[:min(n, headerSplit)], pieces)
			require.Equal(t, frame[:m], hb[:m])
			require.Equal(t, min(n, headerSplit), m)
		}
	}
}
