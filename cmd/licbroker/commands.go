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
	Groups          []string            `json:"groups"`
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

type eventJSON struct {
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	What  string    `json:"what"`
}

type licenseJSON struct {
	History  []eventJSON `json:"history,omitempty"`
	ID       string      `json:"id"`
	Tenant   string      `json:"tenant"`
	UDI      string      `json:"udi"`
	PAK      string      `json:"pak"`
	Feature  string      `json:"feature"`
	Type     string      `json:"type"`
	State    string      `json:"state"`
	IssuedAt time.Time   `json:"issued_at"`
	Expires  *time.Time  `json:"expires_at"`
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
			items, err := getAll[tenantJSON](newClient(g), "/v1/tenants")
			if err != nil {
				return err
			}
			tb := &table{header: []string{"name", "created"}}
			for _, t := range items {
				tb.add(t.Name, t.Created.Format(time.RFC3339))
			}
			return g.print(items, tb)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show NAME", Short: "Show a tenant", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t tenantJSON
			if err := newClient(g).do("GET", "/v1/tenants/"+pathEscape(args[0]), nil, &t); err != nil {
				return err
			}
			tb := &table{header: []string{"name", "created"}}
			tb.add(t.Name, t.Created.Format(time.RFC3339))
			return g.print(t, tb)
		},
	})
	return cmd
}

type tokenJSON struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	Tenant  string    `json:"tenant"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Token   string    `json:"token,omitempty"`
}

func tokenTable(ts ...tokenJSON) *table {
	tb := &table{header: []string{"id", "role", "tenant", "name", "created"}}
	for _, t := range ts {
		tb.add(t.ID, t.Role, orDash(t.Tenant), orDash(t.Name), t.Created.Format(time.RFC3339))
	}
	return tb
}

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var tenant, role, name string
	create := &cobra.Command{
		Use: "create", Short: "Create an API token (the secret is shown once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var out tokenJSON
			in := map[string]string{"tenant": tenant, "role": role, "name": name}
			if err := newClient(g).do("POST", "/v1/tokens", in, &out); err != nil {
				return err
			}
			tb := &table{header: []string{"id", "role", "tenant", "token"}}
			tb.add(out.ID, out.Role, orDash(out.Tenant), out.Token)
			return g.print(out, tb)
		},
	}
	// --tenant here names the token's tenant; it shadows the global flag.
	create.Flags().StringVar(&tenant, "tenant", "", "tenant of an operator or viewer token")
	create.Flags().StringVar(&role, "role", "", "admin, operator or viewer")
	create.Flags().StringVar(&name, "name", "", "a name for the audit log")
	create.MarkFlagRequired("role")
	cmd.AddCommand(create)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List API tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[tokenJSON](newClient(g), "/v1/tokens")
			if err != nil {
				return err
			}
			return g.print(items, tokenTable(items...))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "revoke ID", Short: "Revoke an API token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t tokenJSON
			if err := newClient(g).do("DELETE", "/v1/tokens/"+pathEscape(args[0]), nil, &t); err != nil {
				return err
			}
			return g.print(t, tokenTable(t))
		},
	})
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
			items, err := getAll[map[string]string](newClient(g), "/v1/credentials")
			if err != nil {
				return err
			}
			tb := &table{header: []string{"name", "tenant", "username", "kind"}}
			for _, c := range items {
				tb.add(c["name"], c["tenant"], c["username"], c["kind"])
			}
			return g.print(items, tb)
		},
	})
	return cmd
}

type pakLineIn struct {
	Feature  string   `json:"feature"`
	Type     string   `json:"type"`
	Days     int      `json:"days,omitempty"`
	Quantity int      `json:"quantity"`
	Families []string `json:"families,omitempty"`
}

// parseLine reads a --line spec: feature=F,quantity=N[,type=T][,days=N][,family=F[;F...]].
func parseLine(spec string) (pakLineIn, error) {
	l := pakLineIn{Type: "permanent"}
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return l, fmt.Errorf("--line %q: %q is not key=value", spec, kv)
		}
		var err error
		switch k {
		case "feature":
			l.Feature = v
		case "type":
			l.Type = v
		case "days":
			l.Days, err = strconv.Atoi(v)
		case "quantity":
			l.Quantity, err = strconv.Atoi(v)
		case "family", "families":
			l.Families = strings.Split(v, ";")
		default:
			return l, fmt.Errorf("--line %q: unknown key %q (want feature, type, days, quantity, family)", spec, k)
		}
		if err != nil {
			return l, fmt.Errorf("--line %q: %s is not a number", spec, k)
		}
	}
	return l, nil
}

func newPAKCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "pak", Short: "Manage purchase keys (PAKs)"}
	var id string
	var one pakLineIn
	var lines []string
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a PAK: one line from --feature/--type/--days/--quantity/--family, or several --line specs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{"id": id}
			switch {
			case len(lines) > 0 && cmd.Flags().Changed("feature"):
				return fmt.Errorf("give either --line or --feature/--quantity, not both")
			case len(lines) > 0:
				var ls []pakLineIn
				for _, spec := range lines {
					l, err := parseLine(spec)
					if err != nil {
						return err
					}
					ls = append(ls, l)
				}
				in["lines"] = ls
			case one.Feature == "":
				return fmt.Errorf("give --feature and --quantity, or --line")
			default:
				in["lines"] = []pakLineIn{one}
			}
			var p pakJSON
			if err := newClient(g).do("POST", "/v1/paks", in, &p); err != nil {
				return err
			}
			return g.print(p, pakTable([]pakJSON{p}))
		},
	}
	f := add.Flags()
	f.StringVar(&id, "id", "", "PAK id (11 letters or digits)")
	f.StringVar(&one.Feature, "feature", "", "feature level, e.g. ipservices")
	f.StringVar(&one.Type, "type", "permanent", "permanent or extension")
	f.IntVar(&one.Days, "days", 0, "validity of an extension license, in days")
	f.IntVar(&one.Quantity, "quantity", 0, "number of devices it licenses")
	f.StringSliceVar(&one.Families, "family", nil, "eligible families (3750e, 3560e, 880, 860); default: every family with that level")
	f.StringArrayVar(&lines, "line", nil, "a line: feature=F,quantity=N[,type=extension,days=N][,family=3750e;3560e] (repeatable)")
	add.MarkFlagRequired("id")
	cmd.AddCommand(add)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List PAKs with used and remaining quantities", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[pakJSON](newClient(g), "/v1/paks")
			if err != nil {
				return err
			}
			return g.print(items, pakTable(items))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show ID", Short: "Show a PAK and its lines", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p pakJSON
			if err := newClient(g).do("GET", "/v1/paks/"+pathEscape(args[0]), nil, &p); err != nil {
				return err
			}
			return g.print(p, pakTable([]pakJSON{p}))
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
