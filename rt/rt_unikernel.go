//go:build unikernel && linux && amd64

package rt

import "github.com/unigo-dev/unigo/rt/internal/kernel"

// The kernel is reached at boot through the PVH entry, before this package's
// init runs; referencing it here only keeps the linker from dropping it.
var _ = kernel.Linked()
