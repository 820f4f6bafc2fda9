//go:build unikernel && linux && amd64

package rt

import (
	"fmt"
	"os"

	"github.com/unigo-dev/unigo/netstack/service"
	"github.com/unigo-dev/unigo/rt/internal/kernel"
)

// The kernel is reached at boot through the PVH entry, before this package's
// init runs; referencing it here only keeps the linker from dropping it.
var _ = kernel.Linked()

// The network service runs from before main: the program's socket calls are
// answered by its goroutines (netstack/service).
func init() {
	if _, err := service.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "unigo: no network:", err)
	}
}
