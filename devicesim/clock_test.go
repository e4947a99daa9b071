package devicesim_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/licbroker/licbroker/devicesim"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"61d", 61 * day, true},
		{"8w4d", 60 * day, true},
		{"1d12h", 36 * time.Hour, true},
		{"90s", 90 * time.Second, true},
		{"1.5d", 36 * time.Hour, true},
		{"-5d", 0, false},
		{"-5m", 0, false},
		{"5x", 0, false},
		{"", 0, false},
		{"d", 0, false},
	} {
		got, err := devicesim.ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s ok=%t", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := devicesim.NewFrozenClock(start)
	time.Sleep(5 * time.Millisecond)
	if !c.Now().Equal(start) {
		t.Fatalf("frozen clock moved to %s", c.Now())
	}
	if got := c.Advance(61 * day); !got.Equal(start.Add(61 * day)) {
		t.Fatalf("advance: %s", got)
	}
	c.Advance(-time.Hour)
	if !c.Now().Equal(start.Add(61 * day)) {
		t.Fatal("the clock ran backwards")
	}
	c.SetSpeed(1e6)
	time.Sleep(10 * time.Millisecond)
	if moved := c.Now().Sub(start.Add(61 * day)); moved < 2*time.Hour {
		t.Fatalf("at speed 1e6, 10ms moved the clock only %s", moved)
	}
}

func TestSerials(t *testing.T) {
	re := regexp.MustCompile(`^(FOC|FDO|FTX|FHH)(1[1-9])(0[1-9]|[1-4][0-9]|5[0-3])[0-9A-HJ-NP-Z]{4}$`)
	a, err := devicesim.NewFleet(devicesim.FleetConfig{Count: 2000, Seed: 99})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := devicesim.NewFleet(devicesim.FleetConfig{Count: 2000, Seed: 99})
	c, _ := devicesim.NewFleet(devicesim.FleetConfig{Count: 2000, Seed: 100})
	seen := map[string]bool{}
	same := 0
	for i, d := range a.Devices() {
		sn := d.UDI().SN
		if !re.MatchString(sn) {
			t.Fatalf("serial %q is not LLLYYWWSSSS", sn)
		}
		if seen[sn] {
			t.Fatalf("serial %s twice", sn)
		}
		seen[sn] = true
		if b.Devices()[i].UDI() != d.UDI() {
			t.Fatalf("device %d differs with the same seed: %s %s", i, d.UDI(), b.Devices()[i].UDI())
		}
		if c.Devices()[i].UDI() == d.UDI() {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("%d devices identical under another seed", same)
	}
	if got := devicesim.MakeSerial("FDO", 13, 7, 34*34*34*34-1); got != "FDO1307ZZZZ" {
		t.Fatalf("MakeSerial = %s", got)
	}
}
