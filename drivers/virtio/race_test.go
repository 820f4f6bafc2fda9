//go:build race

package virtio_test

const raceEnabled = true
