package devicesim

import "fmt"

// Family ids, as the broker names them.
const (
	Family3750E = "3750e"
	Family3560E = "3560e"
	Family880   = "880"
	Family860   = "860"
)

// Model is one product of the catalog.
type Model struct {
	PID    string
	Family string
	// Image is the universal image name; Versions are its releases, oldest
	// first.
	Image    string
	Versions []string
	// Plants are the manufacturing plant codes used in its serial numbers.
	Plants []string
}

// Family describes a product family: its feature levels, lowest first. The
// first level is the base level, active with no license.
type Family struct {
	ID     string
	Levels []string
}

// Families lists the families the simulator knows.
var Families = map[string]Family{
	Family3750E: {ID: Family3750E, Levels: []string{"ipbase", "ipservices", "advipservices"}},
	Family3560E: {ID: Family3560E, Levels: []string{"ipbase", "ipservices", "advipservices"}},
	Family880:   {ID: Family880, Levels: []string{"advsecurity", "advipservices"}},
	// 860 levels: assumed to match the 880 (REFERENCE.md).
	Family860: {ID: Family860, Levels: []string{"advsecurity", "advipservices"}},
}

var switchVersions = []string{"12.2(35)SE", "12.2(44)SE", "12.2(46)SE", "12.2(55)SE"}

// Catalog lists the models the simulator can play, by family.
var Catalog = []Model{
	{PID: "WS-C3750E-24TD-S", Family: Family3750E, Image: "C3750E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3750E-24TD-E", Family: Family3750E, Image: "C3750E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3750E-24PD-S", Family: Family3750E, Image: "C3750E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3750E-48TD-S", Family: Family3750E, Image: "C3750E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3750E-48PD-SF", Family: Family3750E, Image: "C3750E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3750E-48PD-EF", Family: Family3750E, Image: "C3750E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3560E-24TD-S", Family: Family3560E, Image: "C3560E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3560E-24TD-E", Family: Family3560E, Image: "C3560E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3560E-24PD-S", Family: Family3560E, Image: "C3560E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3560E-48TD-S", Family: Family3560E, Image: "C3560E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3560E-48PD-SF", Family: Family3560E, Image: "C3560E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "WS-C3560E-12D-S", Family: Family3560E, Image: "C3560E-UNIVERSALK9-M", Versions: switchVersions, Plants: []string{"FDO", "FOC"}},
	{PID: "CISCO881-K9", Family: Family880, Image: "C880DATA-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
	{PID: "CISCO881-SEC-K9", Family: Family880, Image: "C880DATA-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
	{PID: "CISCO887VA-K9", Family: Family880, Image: "C880DATA-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
	{PID: "CISCO888-K9", Family: Family880, Image: "C880DATA-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
	{PID: "CISCO881W-GN-A-K9", Family: Family880, Image: "C880DATA-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
	// 860 PIDs and image name: assumed (REFERENCE.md).
	{PID: "CISCO861-K9", Family: Family860, Image: "C860-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
	{PID: "CISCO867-K9", Family: Family860, Image: "C860-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
	{PID: "CISCO867VAE-K9", Family: Family860, Image: "C860-UNIVERSALK9-M", Versions: []string{"15.0(1)M4", "15.1(4)M"}, Plants: []string{"FTX", "FHH"}},
}

// ModelByPID returns the catalog entry for pid.
func ModelByPID(pid string) (Model, error) {
	for _, m := range Catalog {
		if m.PID == pid {
			return m, nil
		}
	}
	return Model{}, fmt.Errorf("devicesim: unknown product ID %q", pid)
}

// FamilyOfPID returns the family id of a product ID, or "" if unknown.
func FamilyOfPID(pid string) string {
	m, err := ModelByPID(pid)
	if err != nil {
		return ""
	}
	return m.Family
}

// modelsOf returns the catalog models of a family.
func modelsOf(family string) []Model {
	var out []Model
	for _, m := range Catalog {
		if m.Family == family {
			out = append(out, m)
		}
	}
	return out
}

// levelIndex returns the position of level in the family's levels, or -1.
func (f Family) levelIndex(level string) int {
	for i, l := range f.Levels {
		if l == level {
			return i
		}
	}
	return -1
}
