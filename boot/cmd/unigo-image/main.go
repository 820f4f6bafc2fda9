// Command unigo-image makes a unigo program bootable by PVH loaders (QEMU's
// -kernel, Firecracker): it adds the PVH entry ELF note that the Go linker cannot
// emit, pointing at the entry of the kernel linked in from
// github.com/unigo-dev/unigo/rt. It runs on the host, after go build.
//
// Usage:
//
//	unigo-image [-o OUT] [-v] BINARY
//
// BINARY is rewritten in place unless -o names another file; either way the
// file is replaced atomically and keeps BINARY's permission bits. Running it on
// an image it already patched does nothing. It prints nothing on success unless
// -v is given; it exits 1 when BINARY cannot be made bootable (not a static
// linux/amd64 executable, or not built with rt) and 2 on a usage error.
//
// Typical use, with the tool directive in go.mod:
//
//	go build -tags unikernel -o hello . && go tool unigo-image hello
//
// The work is done by package github.com/unigo-dev/unigo/boot/image.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/unigo-dev/unigo/boot/image"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command with its arguments and output streams, returning the exit
// status (0 success, 1 failure, 2 usage error).
func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("unigo-image", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("o", "", "write the bootable image to `OUT` instead of rewriting BINARY in place")
	verbose := flags.Bool("v", false, "print the PVH entry address")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: unigo-image [-o OUT] [-v] BINARY\n\n"+
			"Adds the PVH entry note to BINARY, a Go program built with unigo's rt,\n"+
			"so that QEMU -kernel and Firecracker can boot it.\n\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return 2
	}

	bin := flags.Arg(0)
	dst := bin
	if *out != "" {
		dst = *out
	}
	entry, err := image.WriteFile(bin, dst)
	if err != nil {
		fmt.Fprintf(stderr, "unigo-image: %s: %s\n", bin, reason(err, bin))
		return 1
	}
	if *verbose {
		fmt.Fprintf(stdout, "%s: PVH entry %#x\n", bin, entry)
	}
	return 0
}

// reason is err without the name of bin, which the message already starts with.
func reason(err error, bin string) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == bin {
		return pe.Err.Error()
	}
	return err.Error()
}
