package qemu

import (
	"fmt"
	"sort"
	"strings"

	"github.com/unigo-dev/unigo/boot/cmdline"
)

// MaxAppend is the longest -append string QEMU can be given, in bytes.
//
// QEMU 7.2's microvm passes a PVH kernel's command line through fw_cfg whole: it
// neither checks nor truncates it (measured: 131071 bytes arrive intact in the
// guest, under TCG and KVM). The limit is the host's: Linux refuses to exec a
// program one of whose arguments, with its NUL, is over MAX_ARG_STRLEN (32 pages,
// 131072 bytes), and exec fails with E2BIG.
const MaxAppend = 32*4096 - 1

// KernelCmdline is the kernel command line that hands the guest argv0, args and env
// byte-exactly (boot/cmdline's encoding), after the raw kernel parameters in extra.
// It fails on what the encoding cannot carry (a NUL byte, an environment entry that
// is not NAME=VALUE) and on a command line longer than MaxAppend, naming the
// biggest contributors.
func KernelCmdline(argv0 string, args, env []string, extra string) (string, error) {
	enc, err := cmdline.Encode(nil, argv0, args, env)
	if err != nil {
		return "", fmt.Errorf("cannot pass the arguments and environment to the guest: %w", err)
	}
	if extra != "" {
		enc = extra + " " + enc
	}
	if len(enc) > MaxAppend {
		return "", fmt.Errorf("the kernel command line would be %d bytes, over the %d QEMU can be given (Linux's limit on one program argument); the biggest parts: %s; unset or shorten them",
			len(enc), MaxAppend, biggest(argv0, args, env, extra, 3))
	}
	return enc, nil
}

// biggest names the n parts of a command line that take the most bytes encoded.
func biggest(argv0 string, args, env []string, extra string, n int) string {
	type part struct {
		what string
		size int
	}
	var parts []part
	add := func(what, enc string, err error) {
		if err == nil {
			// Encode's output for one part also holds " --" (or "-- ").
			parts = append(parts, part{what, len(enc) - 3})
		}
	}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		enc, err := cmdline.Encode(nil, "", nil, []string{e})
		add("environment variable "+name, enc, err)
	}
	for i, a := range args {
		enc, err := cmdline.Encode(nil, "", []string{a}, nil)
		add(fmt.Sprintf("argument %d", i+1), enc, err)
	}
	enc, err := cmdline.Encode(nil, argv0, nil, nil)
	add("the program path", enc, err)
	if extra != "" {
		parts = append(parts, part{"the extra kernel parameters", len(extra)})
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].size > parts[j].size })
	if len(parts) > n {
		parts = parts[:n]
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d bytes)", p.what, p.size)
	}
	return b.String()
}
