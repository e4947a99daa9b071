// Package devicesim simulates fleets of network devices that use software
// activation: Catalyst 3750-E and 3560-E switches and 860 and 880 ISR
// routers. Each device runs one universal image with every feature, keeps a
// license store, verifies license keys offline with the broker's public keys,
// and activates the licensed feature level at boot. Devices are served over
// NETCONF (package netconf), one loopback address per device.
package devicesim
