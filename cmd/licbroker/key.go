package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/spf13/cobra"
)

// keyJSON is one key of `key list -o json`.
type keyJSON struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	State   string    `json:"state"`
}

func newKeyCmd(g *globals) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{Use: "key", Short: "Manage the signing keyring (local files of a node) and verify licenses offline"}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "./data", "the node's data directory")
	path := func() string { return filepath.Join(dataDir, keyringFile) }
	// change loads the keyring, applies f and saves it atomically.
	change := func(f func(*keyengine.Keyring) error) error {
		kr, err := keyengine.LoadKeyringFile(path())
		if err != nil {
			return err
		}
		if err := f(kr); err != nil {
			return err
		}
		return keyengine.SaveKeyringFile(path(), kr)
	}
	const publishHint = "restart the node: it then signs with the active key and rewrites trusted-keys.pem; give devices the output of 'licbroker key export-public'"

	cmd.AddCommand(&cobra.Command{
		Use: "init", Short: "Create the signing keyring", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(path()); err == nil {
				return fmt.Errorf("keyring %s already exists; use 'key rotate' to add a key", path())
			}
			if err := os.MkdirAll(filepath.Dir(path()), 0o700); err != nil {
				return err
			}
			kr, err := keyengine.NewKeyring(time.Now(), nil)
			if err != nil {
				return err
			}
			if err := keyengine.SaveKeyringFile(path(), kr); err != nil {
				return err
			}
			fmt.Printf("created keyring %s with key %s\n", path(), kr.ActiveID())
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "rotate", Short: "Make a new active signing key (licenses of older keys still verify)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var id string
			err := change(func(kr *keyengine.Keyring) (err error) {
				id, err = kr.Rotate(time.Now(), nil)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Printf("new active key %s (%s)\n", id, publishHint)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "revoke ID", Short: "Revoke a retired key: licenses it signed no longer verify", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := change(func(kr *keyengine.Keyring) error { return kr.Revoke(args[0]) }); err != nil {
				return err
			}
			fmt.Printf("revoked key %s: its licenses no longer verify here, and devices refuse them once they load the new public keys (%s)\n", args[0], publishHint)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the keys of the keyring", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := keyengine.LoadKeyringFile(path())
			if err != nil {
				return err
			}
			var out []keyJSON
			tb := &table{header: []string{"id", "created", "state"}}
			for _, k := range kr.Keys() {
				state := "retired"
				switch {
				case k.Active:
					state = "active"
				case k.Revoked:
					state = "revoked"
				}
				out = append(out, keyJSON{ID: k.ID, Created: k.Created, State: state})
				tb.add(k.ID, k.Created.Format(time.RFC3339), state)
			}
			return g.print(out, tb)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "export-public", Short: "Print the public keys devices must trust, revocations included (PEM)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := keyengine.LoadKeyringFile(path())
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(kr.TrustStore().MarshalTrustedKeys())
			return err
		},
	})
	cmd.AddCommand(newKeyVerifyCmd(path))
	return cmd
}

func newKeyVerifyCmd(keyringPath func() string) *cobra.Command {
	var udi, trusted string
	var compact bool
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify a license file or a compact key offline",
		Long: `Verify a license file or a compact key offline, as a device would.

FILE holds a license file (XML) or a compact key; which one is detected.
FILE "-" reads standard input, and a compact key may be given in place of FILE.
Trust comes from the local keyring, or from --trusted (what devices load).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ts *keyengine.TrustStore
			var err error
			if trusted != "" {
				ts, err = keyengine.LoadTrustedKeysFile(trusted)
			} else {
				var kr *keyengine.Keyring
				if kr, err = keyengine.LoadKeyringFile(keyringPath()); err == nil {
					ts = kr.TrustStore()
				}
			}
			if err != nil {
				return err
			}
			data, err := readLicenseArg(args[0])
			if err != nil {
				return err
			}
			lics, err := keyengine.ParseLicenses(data)
			if err != nil {
				return err
			}
			var want keyengine.UDI
			if udi != "" {
				if want, err = keyengine.ParseUDI(udi); err != nil {
					return err
				}
			}
			now := time.Now()
			var errs []error
			for _, l := range lics {
				if err := ts.Verify(l, want, now); err != nil {
					errs = append(errs, err)
					fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", l.Grant.ID, err)
					continue
				}
				g := l.Grant
				expires := "never"
				if t, ok := g.Expires(); ok {
					expires = t.Format(time.RFC3339)
				}
				fmt.Printf("OK %s %s %s %s expires %s key %s\n", g.ID, g.UDI, g.Feature, g.Type, expires, g.KeyID)
				if compact {
					fmt.Println(keyengine.EncodeCompactKey(l))
				}
			}
			switch {
			case len(errs) == 0:
				return nil
			case len(lics) == 1:
				return errs[0]
			}
			return fmt.Errorf("%d of %d licenses failed verification; first: %w", len(errs), len(lics), errs[0])
		},
	}
	verify.Flags().StringVar(&udi, "udi", "", "check that the licenses are for this device (PID:SN)")
	verify.Flags().StringVar(&trusted, "trusted", "", "trusted public keys (PEM) instead of the local keyring")
	verify.Flags().BoolVar(&compact, "compact", false, "also print each verified license as a compact key")
	return verify
}

// readLicenseArg reads FILE, standard input for "-", or takes arg itself
// when it is no file but looks like a compact key.
func readLicenseArg(arg string) ([]byte, error) {
	if arg == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, 16<<20))
	}
	data, err := os.ReadFile(arg)
	if errors.Is(err, os.ErrNotExist) && len(arg) > 40 && strings.Count(arg, "-") > 5 && !strings.ContainsAny(arg, "/.") {
		return []byte(arg), nil
	}
	return data, err
}
