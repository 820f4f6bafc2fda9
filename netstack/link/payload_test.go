package link

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPayload checks the frame arrives whole in gVisor's buffer, a large one
// with its headers in a chunk of their own.
func TestPayload(t *testing.T) {
	for _, n := range []int{14, 200, 2 * headerSplit, 2*headerSplit + 1, 1514, 65226} {
		frame := make([]byte, n)
		for i := range frame {
			frame[i] = byte(i * 7)
		}
		b := payload(frame)
		require.Equal(t, frame, b.Flatten(), "%d bytes", n)
		views := b.AsViewList()
		if n > 2*headerSplit {
			require.Equal(t, 2, views.Len(), "%d bytes", n)
			require.GreaterOrEqual(t, views.Front().Size(), headerSplit)
		} else {
			require.Equal(t, 1, views.Len(), "%d bytes", n)
		}
		b.Release()
	}
}
