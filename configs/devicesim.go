package configs

import (
	"fmt"
	"net/netip"

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
}

var fleetDefaults = map[string]any{
	"count":         20,
	"first_address": "127.1.0.1",
	"port":          8300,
	"state_dir":     "",
	"trust":         "",
	"seed":          1,
	"control_addr":  "127.0.0.1:8399",
	"username":      "admin",
	"password":      "admin",
	"mix":           map[string]int{"3750e": 2, "3560e": 1, "880": 1, "860": 1},
	"clock_speed":   1.0,
}

var fleetFlags = map[string]string{
	"count":         "count",
	"first-address": "first_address",
	"port":          "port",
	"state-dir":     "state_dir",
	"trust":         "trust",
	"seed":          "seed",
	"control-addr":  "control_addr",
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
	if c.ClockSpeed <= 0 {
		return fmt.Errorf("configs: clock_speed must be positive")
	}
	return nil
}
