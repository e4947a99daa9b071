package configs

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/spf13/pflag"
)

// Fleet is the configuration of a devicesim fleet.
type Fleet struct {
	Count        int            `mapstructure:"count"`
	FirstAddress string         `mapstructure:"first_address"`
	Port         int            `mapstructure:"port"`
	StateDir     string         `mapstructure:"state_dir"`
	Trust        string         `mapstructure:"trust"`
	Seed         uint64         `mapstructure:"seed"`
	ControlAddr  string         `mapstructure:"control_addr"`
	Username     string         `mapstructure:"username"`
	Password     string         `mapstructure:"password"`
	Mix          map[string]int `mapstructure:"mix"`
	ClockSpeed   float64        `mapstructure:"clock_speed"`
	// AuthorizedKeys is an OpenSSH authorized_keys file whose keys may log
	// in as Username.
	AuthorizedKeys string `mapstructure:"authorized_keys"`
	// DeviceCredentials override the credentials of address ranges.
	DeviceCredentials []FleetCredentials `mapstructure:"device_credentials"`
	// SilentHold is how long an unreachable device holds a connection.
	SilentHold time.Duration `mapstructure:"silent_hold"`
	// SSHKeyExchanges, SSHCiphers and SSHMACs restrict the SSH algorithms
	// the devices offer (empty: x/crypto/ssh's defaults).
	SSHKeyExchanges []string `mapstructure:"ssh_key_exchanges"`
	SSHCiphers      []string `mapstructure:"ssh_ciphers"`
	SSHMACs         []string `mapstructure:"ssh_macs"`
}

// FleetCredentials are the credentials of the devices from First to Last.
type FleetCredentials struct {
	First    string `mapstructure:"first"`
	Last     string `mapstructure:"last"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
}

var fleetDefaults = map[string]any{
	"count":              20,
	"first_address":      "127.1.0.1",
	"port":               8300,
	"state_dir":          "",
	"trust":              "",
	"seed":               1,
	"control_addr":       "127.0.0.1:8399",
	"username":           "admin",
	"password":           "admin",
	"mix":                map[string]int{"3750e": 2, "3560e": 1, "880": 1, "860": 1},
	"clock_speed":        1.0,
	"authorized_keys":    "",
	"device_credentials": []map[string]any{},
	"silent_hold":        2 * time.Minute,
	"ssh_key_exchanges":  []string{},
	"ssh_ciphers":        []string{},
	"ssh_macs":           []string{},
}

var fleetFlags = map[string]string{
	"count":           "count",
	"first-address":   "first_address",
	"port":            "port",
	"state-dir":       "state_dir",
	"trust":           "trust",
	"seed":            "seed",
	"control-addr":    "control_addr",
	"clock-speed":     "clock_speed",
	"authorized-keys": "authorized_keys",
}

// LoadFleet reads a fleet's configuration: defaults, the file at path (may
// be empty), DEVICESIM_* environment variables, then flags.
func LoadFleet(path string, flags *pflag.FlagSet) (Fleet, error) {
	var c Fleet
	if err := load(path, "DEVICESIM", fleetDefaults, flags, fleetFlags, &c); err != nil {
		return Fleet{}, err
	}
	return c, c.Validate()
}

// Validate checks a fleet configuration.
func (c Fleet) Validate() error {
	if c.Count < 1 || c.Count > 100000 {
		return fmt.Errorf("configs: count %d must be between 1 and 100000", c.Count)
	}
	a, err := netip.ParseAddr(c.FirstAddress)
	if err != nil || !a.Is4() || !a.IsLoopback() {
		return fmt.Errorf("configs: first_address %q must be an IPv4 loopback address (127.x.y.z)", c.FirstAddress)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("configs: port %d is out of range 1-65535", c.Port)
	}
	if c.Username == "" {
		return fmt.Errorf("configs: username is empty")
	}
	if c.Password == "" && c.AuthorizedKeys == "" {
		return fmt.Errorf("configs: password is empty and no authorized_keys file is set: nobody could log in")
	}
	if c.ClockSpeed <= 0 {
		return fmt.Errorf("configs: clock_speed must be positive")
	}
	if c.SilentHold < 0 {
		return fmt.Errorf("configs: silent_hold must not be negative")
	}
	if c.ControlAddr != "" {
		host, _, err := net.SplitHostPort(c.ControlAddr)
		if err != nil {
			return fmt.Errorf("configs: control_addr %q must be HOST:PORT", c.ControlAddr)
		}
		if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
			return fmt.Errorf("configs: control_addr %q must be on a loopback address (the control endpoint has no authentication)", c.ControlAddr)
		}
	}
	for i, dc := range c.DeviceCredentials {
		f, err1 := netip.ParseAddr(dc.First)
		l, err2 := netip.ParseAddr(dc.Last)
		if err1 != nil || err2 != nil || !f.Is4() || !l.Is4() || l.Less(f) {
			return fmt.Errorf("configs: device_credentials[%d]: first %q and last %q must be IPv4 addresses, first <= last", i, dc.First, dc.Last)
		}
		if dc.Username == "" || dc.Password == "" {
			return fmt.Errorf("configs: device_credentials[%d] (%s-%s): username and password are required", i, dc.First, dc.Last)
		}
	}
	return nil
}
