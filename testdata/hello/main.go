// Command hello is the smallest unigo program: it prints its arguments and
// environment size and exits with the status given by $HELLO_EXIT.
package main

import (
	"fmt"
	"os"
	"strconv"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	fmt.Println("hello from unigo")
	for i, a := range os.Args {
		fmt.Printf("arg[%d]=%q\n", i, a)
	}
	code, _ := strconv.Atoi(os.Getenv("HELLO_EXIT"))
	os.Exit(code)
}
