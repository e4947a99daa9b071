// Package devicesim simulates fleets of network devices that use software
// activation: Catalyst 3750-E and 3560-E switches and 860 and 880 ISR
// routers, served over NETCONF (package netconf) on loopback addresses.
//
// # Devices
//
// Each device has a model from the Catalog (real product IDs, universal
// image names and releases), a serial number in the vendor format
// LLLYYWWSSSS that is unique in the fleet and follows from the fleet seed,
// one universal image with every feature, and a license store: primary
// storage for installed keys and built-in storage for one evaluation
// license per licensable level. It trusts the broker's public keys.
//
//   - Install verifies each license line on its own (signature, key id,
//     device UDI, validity dates, a feature level of the family) and answers
//     installed, already-present or failed with the reason. A key for
//     another device is refused, naming both UDIs.
//   - Boot (reload, power on, upgrade): the device runs the highest level at
//     or below its boot level (default: the family's highest) that a valid
//     permanent, extension or active evaluation license covers; otherwise
//     the base level. A license for a level covers the levels below it.
//     The license in use is chosen permanent first, then extension, then
//     evaluation. Licenses never change the running level between boots.
//   - Evaluation licenses need the EULA accepted; activating one makes its
//     level the boot level. Usage time (60 days) counts only while the
//     license is in use on a powered-on device. At expiry the device keeps
//     its level (expiredInUse) until the next reload, then falls back to
//     what its other licenses cover, which is the level it had before the
//     evaluation. An expired evaluation cannot be activated again.
//   - Extension licenses carry an end date (judged by the simulated clock)
//     and expire the same way.
//   - Upgrading the software version keeps every license; a higher feature
//     level needs a new key.
//   - Indexes: built-in evaluation licenses hold 1..n-1 in level order;
//     installed licenses follow and indexes are never reused.
//
// # Fleets
//
// A Fleet holds N devices on consecutive loopback addresses and one port.
// It listens once on the wildcard address and serves a connection as the
// device whose address is the connection's local address (one socket per
// device would not fit 30,000 devices in the open-file limit); connections
// to other addresses are reset. Host keys are Ed25519, derived from the
// seed on first use. Devices are small when idle: well under 1 KiB each.
//
// State persists in a state directory as one JSON file per device that
// differs from its seed-derived state, plus fleet.json (seed and mix; a
// fleet with another seed refuses the directory) and clock.json. A process
// restart restores every device as it was, powered on or off, without
// booting; a device reload boots. Faults live in memory only.
//
// The control surface (methods, and ControlHandler over HTTP) lists
// devices, advances the simulated clock or sets its speed, reloads, powers
// off and on, replaces a device by a new unit at the same address (RMA:
// new serial and host key, empty license store), upgrades its software and
// injects faults: unreachable (accept, then stay silent), reply latency,
// authentication failure, a session dropped before or after the request is
// applied, and license storage full.
//
// Package simtest starts a fleet inside a Go test with one call.
//
// # Assumptions
//
// Where public sources settle nothing (see REFERENCE.md), the simulator
// assumes: the 860 has the 880's levels and the image name
// C860-UNIVERSALK9-M; the listed 860 PIDs; usage time of an evaluation
// counts only while it is in use; a license for the base level may be
// installed (it is then the license in use at the base level); a signed
// license of type evaluation is treated like an extension; a dropped
// session on get or get-config ends every session of that device (the
// netconf server drops a single session only for RPCs); a replaced unit
// keeps the failed unit's software version.
package devicesim
