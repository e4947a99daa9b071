// Package broker is the licensing authority and license manager: tenants,
// devices, purchase keys (PAKs), license records and jobs, kept in a
// deterministic state machine that raftstore replicates; the services that
// act on devices over NETCONF (discovery, license install, reload); and the
// REST API with token authentication.
//
// See DESIGN.md in this directory for the data flow and the invariants.
package broker
