// Command web is the README's first demo: an ordinary net/http server that
// says hello, built into a unikernel. Ctrl-C (the VM's power button) stops it
// gracefully.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from a unigo unikernel (%s, %d CPUs), you are %s\n", runtime.Version(), runtime.NumCPU(), r.RemoteAddr)
	})
	srv := &http.Server{Addr: ":8080"}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Println("serving on :8080")
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	log.Println("stopped")
}
