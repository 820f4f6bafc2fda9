//go:build unikernel && cgo

package rt

// A unikernel has no C library and no dynamic loader: cgo cannot work. This
// declaration exists only to stop such a build with a message that says what
// to do.
var _ int = "unigo: build with CGO_ENABLED=0: the unikernel tag cannot be used with cgo"
