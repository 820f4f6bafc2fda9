//go:build unikernel

package mm

import "github.com/unigo-dev/unigo/rt/internal/klog"

func bugHook(msg string, v uint64) { klog.Bug(msg, v) }
