package broker

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/licbroker/licbroker/keyengine"
)

type nopSigner struct{}

func (nopSigner) Sign(g keyengine.Grant) (keyengine.License, error) {
	return keyengine.License{Grant: g}, nil
}

// fleetBroker is a broker whose state holds n devices of two tenants, each
// with a permanent license in use, an evaluation running and two inactive
// built-in evaluations — like a discovered fleet.
func fleetBroker(b *testing.B, n int) *Broker {
	s := NewState()
	apply := func(typ string, p any) {
		raw, _ := newCommand(typ, "admin:bench", t0, p)
		s.Apply(1, raw)
	}
	apply(CmdTenantCreate, tenantCreate{Name: "acme"})
	apply(CmdTenantCreate, tenantCreate{Name: "globex"})
	var batch []Device
	for i := 0; i < n; i++ {
		tn := "acme"
		if i%2 == 1 {
			tn = "globex"
		}
		d := dev(tn, fmt.Sprintf("WS-C3750E-24TD-S:FDO13%06d", i), "3750e", "ipservices")
		d.Address = fmt.Sprintf("127.1.%d.%d:830", i/250, i%250+1)
		d.SoftwareVersion = "12.2(55)SE"
		d.Licenses = []DeviceLicense{
			{ID: fmt.Sprintf("L%024d", i), Feature: "ipservices", Type: "permanent", State: "inUse"},
			{Feature: "advipservices", Type: "evaluation", State: "inUse", ExpiresAt: ptime(t0.Add(time.Duration(i%60) * 24 * time.Hour))},
			{Feature: "ipservices", Type: "evaluation", State: "inactive"},
			{Feature: "ipbase", Type: "evaluation", State: "inactive"},
		}
		batch = append(batch, d)
		if len(batch) == 1000 {
			apply(CmdDevicesUpsert, devicesUpsert{Devices: batch})
			batch = nil
		}
	}
	apply(CmdDevicesUpsert, devicesUpsert{Devices: batch})
	br, err := New(Config{Signer: nopSigner{}, CredentialsKey: make([]byte, 32), Now: func() time.Time { return t0 }}, nil, s)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// BenchmarkReport30k renders each report of 30,000 devices in each format,
// beside the floor: JSON-encoding the same devices as they are stored.
// The target is under one second per report.
func BenchmarkReport30k(b *testing.B) {
	br := fleetBroker(b, 30000)
	b.Run("floor-json-encode-devices", func(b *testing.B) {
		for b.Loop() {
			if err := json.NewEncoder(io.Discard).Encode(br.Devices("")); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, name := range []string{ReportSummary, ReportExpiring, ReportUnused} {
		for _, f := range []string{FormatJSON, FormatCSV, FormatTable} {
			b.Run(name+"-"+f, func(b *testing.B) {
				for b.Loop() {
					r, err := br.BuildReport(name, ReportOptions{Within: 30 * 24 * time.Hour})
					if err != nil {
						b.Fatal(err)
					}
					if err := r.Render(io.Discard, f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
