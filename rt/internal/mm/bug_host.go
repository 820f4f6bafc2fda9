//go:build !unikernel

package mm

import "fmt"

func bugHook(msg string, v uint64) { panic(fmt.Sprintf("%s: %#x", msg, v)) }
