module github.com/unigo-dev/unigo

go 1.26.8

require (
	github.com/stretchr/testify v1.12.1
	golang.org/x/arch v0.33.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

tool (
	github.com/unigo-dev/unigo/boot/cmd/unigo-image
	github.com/unigo-dev/unigo/boot/cmd/unigo-run
)
