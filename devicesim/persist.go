package devicesim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stateStore keeps device state under a directory, like each device's
// NVRAM: fleet.json (the seed and mix that derive the devices' identities),
// clock.json (the simulated time) and device-NNNNN.json for every device
// whose state differs from the one derived from the seed. Files are
// replaced atomically (write to a temporary file, then rename). A nil
// *stateStore keeps nothing.
type stateStore struct {
	dir string
}

type manifest struct {
	Version int            `json:"version"`
	Seed    uint64         `json:"seed"`
	Mix     map[string]int `json:"mix"`
}

// openStateStore creates dir if needed and checks that it belongs to a
// fleet with the same seed and mix: devices without a state file are
// derived from them, so another seed would change their identities.
func openStateStore(dir string, seed uint64, mix map[string]int) (*stateStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateDir, err)
	}
	s := &stateStore{dir: dir}
	want := manifest{Version: 1, Seed: seed, Mix: mix}
	path := filepath.Join(dir, "fleet.json")
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, s.write("fleet.json", want)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrStateDir, err)
	}
	var got manifest
	if err := json.Unmarshal(data, &got); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStateDir, path, err)
	}
	if got.Seed != seed || !maps.Equal(got.Mix, mix) {
		return nil, fmt.Errorf("%w %s was made by a fleet with seed %d and mix %v, not seed %d and mix %v: use the same settings or another state directory",
			ErrStateDir, dir, got.Seed, got.Mix, seed, mix)
	}
	return s, nil
}

func devicePath(i int) string { return fmt.Sprintf("device-%05d.json", i) }

// loadDevices reads the state files present and replaces the derived state
// of those devices, with one reader per CPU. Files of devices beyond the
// fleet's count are left alone.
func (s *stateStore) loadDevices(devs []*Device) error {
	if s == nil {
		return nil
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStateDir, err)
	}
	var idx []int
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), "device-")
		if !ok {
			continue
		}
		num, ok = strings.CutSuffix(num, ".json")
		i, err := strconv.Atoi(num)
		if ok && err == nil && i >= 0 && i < len(devs) && e.Name() == devicePath(i) {
			idx = append(idx, i)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(idx))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < len(idx); k += workers {
				if err := s.loadDevice(devs[idx[k]]); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err // one clear line, not every bad file
		}
	}
	return nil
}

func (s *stateStore) loadDevice(d *Device) error {
	path := filepath.Join(s.dir, devicePath(d.Index))
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStateDir, err)
	}
	var st deviceState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%w: state of device %d (%s): %v", ErrStateDir, d.Index, path, err)
	}
	if err := st.check(); err != nil {
		return fmt.Errorf("%w: state of device %d (%s): %v", ErrStateDir, d.Index, path, err)
	}
	d.st = st
	return nil
}

// check validates a loaded state.
func (st *deviceState) check() error {
	m, err := ModelByPID(st.PID)
	if err != nil {
		return err
	}
	if st.Serial == "" {
		return errors.New("no serial number")
	}
	fam := Families[m.Family]
	if fam.levelIndex(st.Active) < 0 {
		return fmt.Errorf("active level %q is not a level of %s", st.Active, st.PID)
	}
	if st.BootLevel != "" && fam.levelIndex(st.BootLevel) < 0 {
		return fmt.Errorf("boot level %q is not a level of %s", st.BootLevel, st.PID)
	}
	for _, e := range st.Evals {
		if fam.levelIndex(e.Level) < 1 {
			return fmt.Errorf("evaluation license for %q: not a licensable level of %s", e.Level, st.PID)
		}
	}
	return nil
}

// saveDevice writes device i's state.
func (s *stateStore) saveDevice(i int, st *deviceState) error {
	if s == nil {
		return nil
	}
	return s.write(devicePath(i), st)
}

type clockState struct {
	Sim  time.Time `json:"simulated"`
	Real time.Time `json:"real"`
}

// saveClock records the simulated time.
func (s *stateStore) saveClock(c *Clock) error {
	if s == nil {
		return nil
	}
	return s.write("clock.json", clockState{Sim: c.Now(), Real: time.Now().UTC()})
}

// restoreClock moves c forward to the saved simulated time plus the real
// time since it was saved, so that simulated time never runs backwards
// across process restarts (devices keep running while the process is down,
// at speed 1).
func (s *stateStore) restoreClock(c *Clock) error {
	if s == nil {
		return nil
	}
	path := filepath.Join(s.dir, "clock.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStateDir, err)
	}
	var cs clockState
	if err := json.Unmarshal(data, &cs); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStateDir, path, err)
	}
	target := cs.Sim.Add(max(time.Since(cs.Real), 0))
	c.Advance(target.Sub(c.Now()))
	return nil
}

func (s *stateStore) write(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("devicesim: encoding %s: %w", name, err)
	}
	path := filepath.Join(s.dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("%w: %v", ErrStateDir, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: %v", ErrStateDir, err)
	}
	return nil
}
