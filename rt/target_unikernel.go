//go:build unikernel && !(linux && amd64)

package rt

// The kernel is written for x86-64 and runs the Go runtime's linux/amd64 port.
var _ int = "unigo: build with GOOS=linux GOARCH=amd64: the unikernel tag supports only linux/amd64"
