module github.com/unigo-dev/unigo

go 1.26.8

require (
	github.com/stretchr/testify v1.12.1
	golang.org/x/arch v0.33.0
	gvisor.dev/gvisor v0.0.0-20260905035102-160fafc42237
)

require (
	github.com/google/btree v1.1.2 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/exp v0.0.0-20250711185948-6ae5c78190dc // indirect
	golang.org/x/sys v0.43.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

tool (
	github.com/unigo-dev/unigo/boot/cmd/unigo-image
	github.com/unigo-dev/unigo/boot/cmd/unigo-run
)
