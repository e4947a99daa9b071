package devicesim

import (
	"fmt"
	"math/rand/v2"
)

// base34 is the alphabet of the last four serial characters: 0-9 and A-Z
// without I and O.
const base34 = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// MakeSerial builds a serial number in the vendor format LLLYYWWSSSS: plant
// code, year code (01 = 1997), ISO week, and four base-34 characters.
func MakeSerial(plant string, year, week, seq int) string {
	if len(plant) != 3 || year < 1 || year > 99 || week < 1 || week > 53 || seq < 0 || seq >= 34*34*34*34 {
		panic(fmt.Sprintf("devicesim: bad serial parts %q %d %d %d", plant, year, week, seq))
	}
	s := make([]byte, 4)
	for i := 3; i >= 0; i-- {
		s[i] = base34[seq%34]
		seq /= 34
	}
	return fmt.Sprintf("%s%02d%02d%s", plant, year, week, s)
}

// serialGen makes serial numbers unique within a fleet and reproducible from
// the fleet seed.
type serialGen struct {
	rng  *rand.Rand
	seen map[string]bool
}

func newSerialGen(seed uint64) *serialGen {
	return &serialGen{rng: rand.New(rand.NewPCG(seed, 0x5e71a1)), seen: map[string]bool{}}
}

func (g *serialGen) next(m Model) string {
	for {
		plant := m.Plants[g.rng.IntN(len(m.Plants))]
		year := 11 + g.rng.IntN(4) // 2007..2010, the 3750-E / ISR 880 era
		week := 1 + g.rng.IntN(52)
		s := MakeSerial(plant, year, week, g.rng.IntN(34*34*34*34))
		if !g.seen[s] {
			g.seen[s] = true
			return s
		}
	}
}
