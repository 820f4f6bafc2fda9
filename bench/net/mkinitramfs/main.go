// Command mkinitramfs writes the Linux guest's initramfs for bench/net/run.sh:
// a gzip-compressed cpio archive in the "newc" format the kernel unpacks,
// holding /init, a /dev/console node (the kernel opens it for init's standard
// streams before /dev is mounted) and kernel modules in /lib/modules.
//
//	mkinitramfs -o initrd.gz -init PROGRAM [MODULE.ko ...]
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
)

const (
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeChar = 0o020000
)

type writer struct {
	w   io.Writer
	ino int
	err error
}

// entry writes one newc header, the name and the data, each padded to four
// bytes.
func (w *writer) entry(name string, mode, major, minor int, data []byte) {
	if w.err != nil {
		return
	}
	w.ino++
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		w.ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(name)+1, 0)
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	buf = pad(buf)
	buf = append(buf, data...)
	buf = pad(buf)
	_, w.err = w.w.Write(buf)
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func main() {
	out := flag.String("o", "", "output file (gzip-compressed cpio)")
	initPath := flag.String("init", "", "program to install as /init")
	flag.Parse()
	log.SetFlags(0)
	if *out == "" || *initPath == "" {
		log.Fatal("usage: mkinitramfs -o OUT -init PROGRAM [MODULE.ko ...]")
	}
	f, err := os.Create(*out)
	check(err)
	z := gzip.NewWriter(f)
	w := &writer{w: z}
	for _, d := range []string{"dev", "proc", "lib", "lib/modules"} {
		w.entry(d, modeDir|0o755, 0, 0, nil)
	}
	w.entry("dev/console", modeChar|0o600, 5, 1, nil)
	prog, err := os.ReadFile(*initPath)
	check(err)
	w.entry("init", modeReg|0o755, 0, 0, prog)
	for _, m := range flag.Args() {
		b, err := os.ReadFile(m)
		check(err)
		w.entry("lib/modules/"+filepath.Base(m), modeReg|0o644, 0, 0, b)
	}
	w.entry("TRAILER!!!", 0, 0, 0, nil)
	check(w.err)
	check(z.Close())
	check(f.Close())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
