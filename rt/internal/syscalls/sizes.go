package syscalls

import (
	"unsafe"

	"github.com/unigo-dev/unigo/rt/internal/linux"
)

const unsafeSizeofStat = unsafe.Sizeof(linux.Stat{})
