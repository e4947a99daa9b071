package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/licbroker/licbroker/keyengine"
	"github.com/spf13/cobra"
)

func newKeyCmd(g *globals) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{Use: "key", Short: "Manage the signing keyring (local files of a node)"}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "./data", "the node's data directory")
	path := func() string { return filepath.Join(dataDir, keyringFile) }

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
		Use: "rotate", Short: "Make a new active signing key (older keys still verify)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := keyengine.LoadKeyringFile(path())
			if err != nil {
				return err
			}
			id, err := kr.Rotate(time.Now(), nil)
			if err != nil {
				return err
			}
			if err := keyengine.SaveKeyringFile(path(), kr); err != nil {
				return err
			}
			fmt.Printf("new active key %s (restart the node to sign with it)\n", id)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "export-public", Short: "Print the public keys devices must trust (PEM)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := keyengine.LoadKeyringFile(path())
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(kr.TrustStore().MarshalTrustedKeys())
			return err
		},
	})
	var udi, trusted string
	verify := &cobra.Command{
		Use: "verify FILE", Short: "Verify a license file offline", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ts *keyengine.TrustStore
			if trusted != "" {
				var err error
				if ts, err = keyengine.LoadTrustedKeysFile(trusted); err != nil {
					return err
				}
			} else {
				kr, err := keyengine.LoadKeyringFile(path())
				if err != nil {
					return err
				}
				ts = kr.TrustStore()
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			lics, err := keyengine.ParseFile(data)
			if err != nil {
				return err
			}
			var want keyengine.UDI
			if udi != "" {
				if want, err = keyengine.ParseUDI(udi); err != nil {
					return err
				}
			}
			var errs []error
			for _, l := range lics {
				if err := ts.Verify(l, want, time.Now()); err != nil {
					errs = append(errs, fmt.Errorf("license %s: %w", l.Grant.ID, err))
					continue
				}
				fmt.Printf("OK %s %s %s %s\n", l.Grant.ID, l.Grant.UDI, l.Grant.Feature, l.Grant.Type)
			}
			return errors.Join(errs...)
		},
	}
	verify.Flags().StringVar(&udi, "udi", "", "check that the licenses are for this device (PID:SN)")
	verify.Flags().StringVar(&trusted, "trusted", "", "trusted public keys (PEM) instead of the local keyring")
	cmd.AddCommand(verify)
	return cmd
}
