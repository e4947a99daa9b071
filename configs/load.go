package configs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// load builds a viper instance with defaults, the file at path (if any),
// environment variables with prefix, and flags bound by key, then decodes
// into out.
func load(path, envPrefix string, defaults map[string]any, flags *pflag.FlagSet, flagKeys map[string]string, out any) error {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("configs: config file %s: %w", path, errors.Unwrap(err))
		}
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("configs: reading %s: %v", path, err)
		}
		for _, k := range v.AllKeys() {
			if _, ok := defaults[k]; !ok && !strings.Contains(k, ".") {
				return fmt.Errorf("configs: %s: unknown setting %q", path, k)
			}
		}
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	if flags != nil {
		for name, key := range flagKeys {
			if f := flags.Lookup(name); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return fmt.Errorf("configs: flag %s: %w", name, err)
				}
			}
		}
	}
	if err := v.Unmarshal(out); err != nil {
		return fmt.Errorf("configs: %v", err)
	}
	return nil
}
