// Command server is the guest that bench/net/run.sh measures. It serves three
// ports:
//
//	8080  net/http: every request gets "hello\n"
//	9000  sink: reads each connection to its end, discards the bytes, closes
//	9001  source: writes -source-mib MiB of zeros on each connection, closes
//
// Built with -tags unikernel it is a unigo guest (the rt import boots it).
// Built without the tag it is an ordinary Linux program; started as a Linux
// guest's /init (process 1) it first loads the virtio network modules and
// configures the interface itself (init_linux.go).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	_ "github.com/unigo-dev/unigo/rt"
)

var (
	httpAddr   = flag.String("http", ":8080", "net/http hello address")
	sinkAddr   = flag.String("sink", ":9000", "TCP sink address")
	sourceAddr = flag.String("source", ":9001", "TCP source address")
	sourceMiB  = flag.Int("source-mib", 64, "MiB the source writes per connection")
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("server: ")
	if err := setupLinuxInit(); err != nil {
		log.Fatal(err)
	}
	flag.Parse()

	sink, err := net.Listen("tcp", *sinkAddr)
	check(err)
	source, err := net.Listen("tcp", *sourceAddr)
	check(err)
	web, err := net.Listen("tcp", *httpAddr)
	check(err)

	go serve(sink, func(c net.Conn) {
		io.Copy(io.Discard, c)
	})
	zeros := make([]byte, 256<<10)
	go serve(source, func(c net.Conn) {
		for left := int64(*sourceMiB) << 20; left > 0; {
			n := int64(len(zeros))
			if n > left {
				n = left
			}
			if _, err := c.Write(zeros[:n]); err != nil {
				return
			}
			left -= n
		}
	})

	hello := []byte("hello\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	fmt.Println("server: listening on", *httpAddr, *sinkAddr, *sourceAddr)
	log.Fatal(http.Serve(web, mux))
}

// serve runs handle for each connection of l in its own goroutine and closes
// the connection afterwards.
func serve(l net.Listener, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
