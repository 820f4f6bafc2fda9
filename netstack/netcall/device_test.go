package netcall

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// TestDeviceLayout pins the Device record, which the kernel copies out whole.
func TestDeviceLayout(t *testing.T) {
	assert.EqualValues(t, DeviceSize, unsafe.Sizeof(Device{}))
	assert.EqualValues(t, 24, unsafe.Offsetof(Device{}.PCI))
}
