package netstack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLingerZeroResets(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	st := newStack(t)
	ln := listenOn(t, st, AF_INET, sa4("127.0.0.1", 0))
	c := mustSocket(t, st, AF_INET, SOCK_STREAM)
	require.Equal(t, ok, st.Connect(ctx, c, sa4("127.0.0.1", boundPort(t, st, ln))))
	s, _, e := st.Accept(ctx, ln, 0)
	require.Equal(t, ok, e)
	require.Equal(t, ok, st.SetSockopt(c, SOL_SOCKET, SO_LINGER, []byte{1, 0, 0, 0, 0, 0, 0, 0}))
	require.Equal(t, ok, st.Close(ctx, c))
	_, e = st.Read(ctx, s, make([]byte, 8))
	require.Equal(t, ECONNRESET, e)
}
