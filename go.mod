module github.com/licbroker/licbroker

go 1.26.0

require (
	github.com/Juniper/go-netconf v0.3.1
	golang.org/x/crypto v0.59.0
)

require (
	github.com/google/go-cmp v0.6.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
