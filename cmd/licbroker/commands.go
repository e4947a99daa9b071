package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Types mirrored from the API's JSON (the client does not import broker).

type tenantJSON struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

type deviceLicenseJSON struct {
	ID        string     `json:"id"`
	Feature   string     `json:"feature"`
	Type      string     `json:"type"`
	State     string     `json:"state"`
	ExpiresAt *time.Time `json:"expires_at"`
}

type deviceJSON struct {
	UDI             string              `json:"udi"`
	PID             string              `json:"pid"`
	Serial          string              `json:"serial"`
	Tenant          string              `json:"tenant"`
	Address         string              `json:"address"`
	Family          string              `json:"family"`
	SoftwareVersion string              `json:"software_version"`
	ActiveLevel     string              `json:"active_level"`
	NextBootLevel   string              `json:"next_boot_level"`
	Licenses        []deviceLicenseJSON `json:"licenses"`
}

type pakLineJSON struct {
	Feature  string   `json:"feature"`
	Type     string   `json:"type"`
	Days     int      `json:"days"`
	Quantity int      `json:"quantity"`
	Used     int      `json:"used"`
	Families []string `json:"families"`
}

type pakJSON struct {
	ID     string        `json:"id"`
	Tenant string        `json:"tenant"`
	Lines  []pakLineJSON `json:"lines"`
}

type licenseJSON struct {
	ID       string     `json:"id"`
	Tenant   string     `json:"tenant"`
	UDI      string     `json:"udi"`
	PAK      string     `json:"pak"`
	Feature  string     `json:"feature"`
	Type     string     `json:"type"`
	State    string     `json:"state"`
	IssuedAt time.Time  `json:"issued_at"`
	Expires  *time.Time `json:"expires_at"`
}

type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func newTenantCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants (customers)"}
	cmd.AddCommand(&cobra.Command{
		Use: "create NAME", Short: "Create a tenant", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t tenantJSON
			if err := newClient(g).do("POST", "/v1/tenants", map[string]string{"name": args[0]}, &t); err != nil {
				return err
			}
			tb := &table{header: []string{"name", "created"}}
			tb.add(t.Name, t.Created.Format(time.RFC3339))
			return g.print(t, tb)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List tenants", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var l list[tenantJSON]
			if err := newClient(g).do("GET", "/v1/tenants", nil, &l); err != nil {
				return err
			}
			tb := &table{header: []string{"name", "created"}}
			for _, t := range l.Items {
				tb.add(t.Name, t.Created.Format(time.RFC3339))
			}
			return g.print(l.Items, tb)
		},
	})
	return cmd
}

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var tenant, role string
	create := &cobra.Command{
		Use: "create", Short: "Create an API token (the secret is shown once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				ID     string `json:"id"`
				Role   string `json:"role"`
				Tenant string `json:"tenant"`
				Token  string `json:"token"`
			}
			if err := newClient(g).do("POST", "/v1/tokens", map[string]string{"tenant": tenant, "role": role}, &out); err != nil {
				return err
			}
			tb := &table{header: []string{"id", "role", "tenant", "token"}}
			tb.add(out.ID, out.Role, orDash(out.Tenant), out.Token)
			return g.print(out, tb)
		},
	}
	create.Flags().StringVar(&tenant, "tenant", "", "tenant of an operator or viewer token")
	create.Flags().StringVar(&role, "role", "", "admin, operator or viewer")
	create.MarkFlagRequired("role")
	cmd.AddCommand(create)
	return cmd
}

func newCredentialsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "credentials", Short: "Manage device login profiles"}
	var user, pwFile, keyFile string
	add := &cobra.Command{
		Use: "add NAME", Short: "Add or replace a device login profile", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (pwFile == "") == (keyFile == "") {
				return fmt.Errorf("give exactly one of --password-file or --key-file")
			}
			in := map[string]string{"name": args[0], "username": user}
			if pwFile != "" {
				b, err := os.ReadFile(pwFile)
				if err != nil {
					return err
				}
				in["password"] = strings.TrimRight(string(b), "\r\n")
			} else {
				b, err := os.ReadFile(keyFile)
				if err != nil {
					return err
				}
				in["key"] = string(b)
			}
			var out map[string]string
			if err := newClient(g).do("POST", "/v1/credentials", in, &out); err != nil {
				return err
			}
			tb := &table{header: []string{"name", "tenant", "username", "kind"}}
			tb.add(out["name"], out["tenant"], out["username"], out["kind"])
			return g.print(out, tb)
		},
	}
	add.Flags().StringVar(&user, "username", "", "device username")
	add.Flags().StringVar(&pwFile, "password-file", "", "file holding the password")
	add.Flags().StringVar(&keyFile, "key-file", "", "file holding an SSH private key (PEM)")
	add.MarkFlagRequired("username")
	cmd.AddCommand(add)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List device login profiles (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var l list[map[string]string]
			if err := newClient(g).do("GET", "/v1/credentials", nil, &l); err != nil {
				return err
			}
			tb := &table{header: []string{"name", "tenant", "username", "kind"}}
			for _, c := range l.Items {
				tb.add(c["name"], c["tenant"], c["username"], c["kind"])
			}
			return g.print(l.Items, tb)
		},
	})
	return cmd
}

func newPAKCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "pak", Short: "Manage purchase keys (PAKs)"}
	var in struct {
		ID       string   `json:"id"`
		Feature  string   `json:"feature"`
		Type     string   `json:"type"`
		Days     int      `json:"days,omitempty"`
		Quantity int      `json:"quantity"`
		Families []string `json:"families,omitempty"`
	}
	add := &cobra.Command{
		Use: "add", Short: "Register a PAK", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var p pakJSON
			if err := newClient(g).do("POST", "/v1/paks", in, &p); err != nil {
				return err
			}
			return g.print(p, pakTable([]pakJSON{p}))
		},
	}
	f := add.Flags()
	f.StringVar(&in.ID, "id", "", "PAK id (11 letters or digits)")
	f.StringVar(&in.Feature, "feature", "", "feature level, e.g. ipservices")
	f.StringVar(&in.Type, "type", "permanent", "permanent or extension")
	f.IntVar(&in.Days, "days", 0, "validity of an extension license, in days")
	f.IntVar(&in.Quantity, "quantity", 0, "number of devices it licenses")
	f.StringSliceVar(&in.Families, "family", nil, "eligible families (3750e, 3560e, 880, 860); default: every family with that level")
	add.MarkFlagRequired("id")
	add.MarkFlagRequired("feature")
	add.MarkFlagRequired("quantity")
	cmd.AddCommand(add)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List PAKs with used and remaining quantities", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var l list[pakJSON]
			if err := newClient(g).do("GET", "/v1/paks", nil, &l); err != nil {
				return err
			}
			return g.print(l.Items, pakTable(l.Items))
		},
	})
	return cmd
}

func pakTable(ps []pakJSON) *table {
	tb := &table{header: []string{"pak", "tenant", "line", "feature", "type", "days", "quantity", "used", "remaining", "families"}}
	for _, p := range ps {
		for i, l := range p.Lines {
			days := "-"
			if l.Days > 0 {
				days = strconv.Itoa(l.Days)
			}
			tb.add(p.ID, p.Tenant, strconv.Itoa(i+1), l.Feature, l.Type, days, strconv.Itoa(l.Quantity),
				strconv.Itoa(l.Used), strconv.Itoa(l.Quantity-l.Used), strings.Join(l.Families, " "))
		}
	}
	return tb
}
