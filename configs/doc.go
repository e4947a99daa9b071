// Package configs loads typed configuration for the licbroker and devicesim
// binaries with viper: defaults, then a config file (YAML), then
// LICBROKER_* / DEVICESIM_* environment variables, then command-line flags.
// It uses its own viper instance, never the global one.
//
// Example files: broker-single.yaml, node1.yaml..node3.yaml (a 3-node
// cluster) and fleet.yaml (a simulator fleet).
package configs
