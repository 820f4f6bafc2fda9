// Command hello is a plain Go program with no PVH marker: the image tool must
// refuse it (and, built for arm64, refuse it for its architecture).
package main

import "fmt"

func main() { fmt.Println("hello") }
