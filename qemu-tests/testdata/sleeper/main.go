// Command sleeper prints one line and then sleeps forever: the boot test suite
// uses it to check that a guest that never exits ends in a timeout (runner status
// 127), never in a success.
package main

import (
	"fmt"
	"time"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	fmt.Println("sleeper: sleeping forever")
	for {
		// A pending timer keeps the runtime from declaring a deadlock, as a bare
		// select {} would.
		time.Sleep(time.Hour)
	}
}
