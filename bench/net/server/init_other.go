//go:build !linux || unikernel

package main

// setupLinuxInit has nothing to do outside a Linux guest: unigo brings its
// network up before main.
func setupLinuxInit() error { return nil }
