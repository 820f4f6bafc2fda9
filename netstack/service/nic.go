package service

import (
	"fmt"
	"os"
)

// bringUp finds the network device, attaches it to the stack and gives it an
// address: the static one from the command line, or DHCP's.
func (s *Service) bringUp(c config) {
	_ = c
	fmt.Fprint(os.Stderr, "")
}
