package broker

// familyLevels lists each family's feature levels, lowest first; the first
// is the base level that needs no license. These are the product facts the
// authority sells against (860 levels assumed equal to the 880's, as in
// REFERENCE.md).
var familyLevels = map[string][]string{
	"3750e": {"ipbase", "ipservices", "advipservices"},
	"3560e": {"ipbase", "ipservices", "advipservices"},
	"880":   {"advsecurity", "advipservices"},
	"860":   {"advsecurity", "advipservices"},
}

// licensable reports whether feature is a licensable (non-base) level of
// family.
func licensable(family, feature string) bool {
	lv := familyLevels[family]
	for i, l := range lv {
		if l == feature {
			return i > 0
		}
	}
	return false
}

// familiesFor returns the families where feature is licensable.
func familiesFor(feature string) []string {
	var out []string
	for _, f := range Families {
		if licensable(f, feature) {
			out = append(out, f)
		}
	}
	return out
}
