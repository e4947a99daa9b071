package devicesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// DeviceInfo is a device as the control endpoint lists it.
type DeviceInfo struct {
	Index           int           `json:"index"`
	Address         string        `json:"address"`
	UDI             string        `json:"udi"`
	PID             string        `json:"pid"`
	Serial          string        `json:"serial"`
	Family          string        `json:"family"`
	SoftwareVersion string        `json:"software_version"`
	Image           string        `json:"image"`
	ActiveLevel     string        `json:"active_level"`
	BootLevel       string        `json:"boot_level,omitempty"`
	NextBootLevel   string        `json:"next_boot_level"`
	Powered         bool          `json:"powered"`
	Fault           Fault         `json:"fault"`
	HostKey         string        `json:"host_key_fingerprint"`
	Username        string        `json:"username"`
	Licenses        []LicenseView `json:"licenses,omitempty"`
}

// Info describes the device; with licenses, its license store too.
func (d *Device) Info(withLicenses bool) DeviceInfo {
	s := d.Snapshot()
	user, _ := d.fleet.DeviceCredentials(d)
	info := DeviceInfo{Index: d.Index, Address: d.Address(), UDI: s.PID + ":" + s.Serial, PID: s.PID, Serial: s.Serial,
		Family: FamilyOfPID(s.PID), SoftwareVersion: s.Version, Image: s.Image, ActiveLevel: s.Active,
		BootLevel: s.BootLevel, NextBootLevel: s.NextBoot, Powered: d.Powered(), Fault: d.Fault(),
		HostKey: ssh.FingerprintSHA256(d.HostKey()), Username: user}
	if withLicenses {
		info.Licenses = s.Licenses
	}
	return info
}

// ClockInfo is the simulated clock as the control endpoint shows it.
type ClockInfo struct {
	Now   time.Time `json:"now"`
	Speed float64   `json:"speed"`
}

// ClockRequest changes the simulated clock: Advance (a duration such as
// "61d" or "36h") and/or Speed.
type ClockRequest struct {
	Advance string  `json:"advance,omitempty"`
	Speed   float64 `json:"speed,omitempty"`
}

// UpgradeRequest names the software version to install.
type UpgradeRequest struct {
	Version string `json:"version"`
}

// ControlHandler returns the fleet's control endpoint, to be served on a
// local address only. JSON in and out; errors are
// {"error": {"code": ..., "message": ...}}.
//
//	GET    /healthz
//	GET    /devices[?offset=N&limit=N]   list devices
//	GET    /devices/{id}                 one device with its licenses
//	POST   /devices/{id}/reload
//	POST   /devices/{id}/power-off
//	POST   /devices/{id}/power-on
//	POST   /devices/{id}/replace         RMA: new serial and host key
//	POST   /devices/{id}/upgrade         {"version": "12.2(55)SE"}
//	GET    /devices/{id}/fault
//	PUT    /devices/{id}/fault           a Fault, e.g. {"latency": "2s"}
//	DELETE /devices/{id}/fault
//	GET    /clock
//	POST   /clock                        {"advance": "61d", "speed": 1000}
//	POST   /trust/reload                 re-read the trusted keys file
//
// {id} is an index, an address (with or without port), a UDI or a serial.
func (f *Fleet) ControlHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"devices": f.Len(), "port": f.Port()})
	})
	m.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		offset, limit, err := paging(r, f.Len())
		if err != nil {
			writeError(w, err)
			return
		}
		out := make([]DeviceInfo, 0, limit)
		for _, d := range f.devices[offset : offset+limit] {
			out = append(out, d.Info(false))
		}
		writeJSON(w, http.StatusOK, out)
	})
	m.HandleFunc("GET /devices/{id}", f.withDevice(func(d *Device, _ *http.Request) (any, error) {
		return d.Info(true), nil
	}))
	m.HandleFunc("POST /devices/{id}/reload", f.withDevice(func(d *Device, _ *http.Request) (any, error) {
		if err := d.Reload(); err != nil {
			return nil, err
		}
		return d.Info(false), nil
	}))
	m.HandleFunc("POST /devices/{id}/power-off", f.withDevice(func(d *Device, _ *http.Request) (any, error) {
		if err := d.PowerOff(); err != nil {
			return nil, err
		}
		return d.Info(false), nil
	}))
	m.HandleFunc("POST /devices/{id}/power-on", f.withDevice(func(d *Device, _ *http.Request) (any, error) {
		if err := d.PowerOn(); err != nil {
			return nil, err
		}
		return d.Info(false), nil
	}))
	m.HandleFunc("POST /devices/{id}/replace", f.withDevice(func(d *Device, _ *http.Request) (any, error) {
		if err := d.Replace(); err != nil {
			return nil, err
		}
		return d.Info(false), nil
	}))
	m.HandleFunc("POST /devices/{id}/upgrade", f.withDevice(func(d *Device, r *http.Request) (any, error) {
		var req UpgradeRequest
		if err := readJSON(r, &req); err != nil {
			return nil, err
		}
		if err := d.Upgrade(req.Version); err != nil {
			return nil, err
		}
		return d.Info(false), nil
	}))
	m.HandleFunc("GET /devices/{id}/fault", f.withDevice(func(d *Device, _ *http.Request) (any, error) {
		return d.Fault(), nil
	}))
	m.HandleFunc("PUT /devices/{id}/fault", f.withDevice(func(d *Device, r *http.Request) (any, error) {
		var fault Fault
		if err := readJSON(r, &fault); err != nil {
			return nil, err
		}
		if err := d.SetFault(fault); err != nil {
			return nil, err
		}
		return fault, nil
	}))
	m.HandleFunc("DELETE /devices/{id}/fault", f.withDevice(func(d *Device, _ *http.Request) (any, error) {
		if err := d.SetFault(Fault{}); err != nil {
			return nil, err
		}
		return Fault{}, nil
	}))
	m.HandleFunc("GET /clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, ClockInfo{Now: f.clock.Now(), Speed: f.clock.Speed()})
	})
	m.HandleFunc("POST /clock", func(w http.ResponseWriter, r *http.Request) {
		var req ClockRequest
		if err := readJSON(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if req.Advance == "" && req.Speed == 0 {
			writeError(w, fmt.Errorf("%w: give advance (e.g. \"61d\") or speed", errBadRequest))
			return
		}
		var by time.Duration
		if req.Advance != "" {
			var err error
			if by, err = ParseDuration(req.Advance); err != nil {
				writeError(w, fmt.Errorf("%w: %v", errBadRequest, err))
				return
			}
		}
		if req.Speed != 0 {
			if err := f.SetClockSpeed(req.Speed); err != nil {
				writeError(w, err)
				return
			}
		}
		if _, err := f.AdvanceClock(by); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ClockInfo{Now: f.clock.Now(), Speed: f.clock.Speed()})
	})
	m.HandleFunc("POST /trust/reload", func(w http.ResponseWriter, r *http.Request) {
		ids, err := f.ReloadTrust()
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key_ids": ids})
	})
	return m
}

func (f *Fleet) withDevice(fn func(d *Device, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := f.Lookup(r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		out, err := fn(d, r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func paging(r *http.Request, n int) (offset, limit int, err error) {
	limit = n
	q := r.URL.Query()
	if s := q.Get("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("%w: offset %q is not a number >= 0", errBadRequest, s)
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 0 {
			return 0, 0, fmt.Errorf("%w: limit %q is not a number >= 0", errBadRequest, s)
		}
	}
	offset = min(offset, n)
	limit = min(limit, n-offset)
	return offset, limit, nil
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", errBadRequest, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, ErrNoSuchDevice):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrPoweredOff):
		status, code = http.StatusConflict, "powered_off"
	case errors.Is(err, errBadRequest), errors.Is(err, ErrBadFault), errors.Is(err, ErrBadConfig),
		errors.Is(err, ErrUnknownVersion), errors.Is(err, ErrUnknownLevel):
		status, code = http.StatusBadRequest, "bad_request"
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
}
