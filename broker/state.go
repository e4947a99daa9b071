package broker

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
)

// State is the replicated state: every tenant, device, PAK, license, job,
// credential and token. It implements raftstore's StateMachine; Apply is
// deterministic.
type State struct {
	mu sync.RWMutex
	d  stateData
}

type stateData struct {
	Index       uint64                 `json:"index"`
	Tenants     map[string]*Tenant     `json:"tenants"`
	Devices     map[string]*Device     `json:"devices"`
	PAKs        map[string]*PAK        `json:"paks"`
	Licenses    map[string]*License    `json:"licenses"`
	Jobs        map[string]*Job        `json:"jobs"`
	Credentials map[string]*Credential `json:"credentials"` // key: tenant/name
	Tokens      map[string]*Token      `json:"tokens"`      // key: hash

	// redeemed indexes live licenses by redeemKey; derived, rebuilt on
	// restore.
	redeemed map[string]string
}

func redeemKey(udi, pak, feature string) string { return udi + "|" + pak + "|" + feature }

func (d *stateData) reindex() {
	d.redeemed = map[string]string{}
	for id, l := range d.Licenses {
		if l.State != LicenseRevoked && l.State != LicenseRehosted {
			d.redeemed[redeemKey(l.UDI, l.PAK, l.Feature)] = id
		}
	}
}

// NewState returns an empty state.
func NewState() *State {
	return &State{d: emptyData()}
}

func emptyData() stateData {
	return stateData{Tenants: map[string]*Tenant{}, Devices: map[string]*Device{}, PAKs: map[string]*PAK{},
		Licenses: map[string]*License{}, Jobs: map[string]*Job{}, Credentials: map[string]*Credential{},
		Tokens: map[string]*Token{}, redeemed: map[string]string{}}
}

// Apply applies one command. A command that cannot be decoded is a bug and
// panics; business failures are returned as Result.Error.
func (s *State) Apply(index uint64, raw []byte) []byte {
	var c Command
	if err := json.Unmarshal(raw, &c); err != nil {
		panic(fmt.Sprintf("broker: undecodable command at index %d: %v", index, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.Index = index
	data, aerr := s.apply(&c)
	res := Result{Error: aerr}
	if aerr == nil && data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			panic(fmt.Sprintf("broker: encode result of %s: %v", c.Type, err))
		}
		res.Data = b
	}
	out, err := json.Marshal(res)
	if err != nil {
		panic(err)
	}
	return out
}

func decode[T any](c *Command) T {
	var v T
	if err := json.Unmarshal(c.Payload, &v); err != nil {
		panic(fmt.Sprintf("broker: undecodable %s payload: %v", c.Type, err))
	}
	return v
}

func (s *State) apply(c *Command) (any, *APIError) {
	switch c.Type {
	case CmdTenantCreate:
		return s.applyTenantCreate(c, decode[tenantCreate](c))
	case CmdTokenCreate:
		p := decode[tokenCreate](c)
		t := p.Token
		s.d.Tokens[t.Hash] = &t
		return nil, nil
	case CmdCredentialPut:
		p := decode[credentialPut](c)
		cr := p.Credential
		if _, ok := s.d.Tenants[cr.Tenant]; !ok {
			return nil, apiErr("not_found", "tenant %q does not exist", cr.Tenant)
		}
		s.d.Credentials[cr.Tenant+"/"+cr.Name] = &cr
		return nil, nil
	case CmdDevicesUpsert:
		return s.applyDevicesUpsert(c, decode[devicesUpsert](c))
	case CmdPAKAdd:
		return s.applyPAKAdd(c, decode[pakAdd](c))
	case CmdRedeem:
		return s.applyRedeem(c, decode[redeem](c))
	case CmdLicenseState:
		p := decode[licenseState](c)
		l, ok := s.d.Licenses[p.ID]
		if !ok {
			return nil, apiErr("not_found", "license %s does not exist", p.ID)
		}
		l.State = p.State
		l.Updated = c.Time
		l.History = append(l.History, Event{Time: c.Time, Actor: c.Actor, What: p.What})
		return nil, nil
	case CmdJobCreate:
		p := decode[jobCreate](c)
		j := p.Job
		if _, ok := s.d.Jobs[j.ID]; ok {
			return nil, apiErr("conflict", "job %s already exists", j.ID)
		}
		s.d.Jobs[j.ID] = &j
		return nil, nil
	case CmdJobResults:
		return s.applyJobResults(c, decode[jobResults](c))
	case CmdJobFinish:
		p := decode[jobFinish](c)
		j, ok := s.d.Jobs[p.ID]
		if !ok {
			return nil, apiErr("not_found", "job %s does not exist", p.ID)
		}
		if j.State == JobRunning {
			j.State = p.State
			j.Error = p.Error
			t := c.Time
			j.Finished = &t
		}
		return nil, nil
	}
	panic(fmt.Sprintf("broker: unknown command type %q", c.Type))
}

func (s *State) applyTenantCreate(c *Command, p tenantCreate) (any, *APIError) {
	if _, ok := s.d.Tenants[p.Name]; ok {
		return nil, apiErr("conflict", "tenant %q already exists", p.Name)
	}
	s.d.Tenants[p.Name] = &Tenant{Name: p.Name, Created: c.Time}
	return nil, nil
}

func (s *State) applyDevicesUpsert(c *Command, p devicesUpsert) (any, *APIError) {
	for i := range p.Devices {
		d := p.Devices[i]
		if old, ok := s.d.Devices[d.UDI]; ok {
			if old.Tenant != d.Tenant {
				// A device belongs to one tenant; never move it silently.
				continue
			}
			if len(d.Groups) == 0 {
				d.Groups = old.Groups
			}
		}
		s.d.Devices[d.UDI] = &d
	}
	return nil, nil
}

func (s *State) applyPAKAdd(c *Command, p pakAdd) (any, *APIError) {
	if _, ok := s.d.PAKs[p.PAK.ID]; ok {
		return nil, apiErr("conflict", "PAK %s already exists", p.PAK.ID)
	}
	if _, ok := s.d.Tenants[p.PAK.Tenant]; !ok {
		return nil, apiErr("not_found", "tenant %q does not exist", p.PAK.Tenant)
	}
	k := p.PAK
	k.Created = c.Time
	s.d.PAKs[k.ID] = &k
	return &k, nil
}

// applyRedeem spends one unit of a PAK line for a device. Redeeming again
// for the same device and feature returns the existing license.
func (s *State) applyRedeem(c *Command, p redeem) (any, *APIError) {
	pak, ok := s.d.PAKs[p.PAK]
	if !ok || pak.Tenant != p.Tenant {
		return nil, apiErr("not_found", "PAK %s does not exist", p.PAK)
	}
	if p.Line < 0 || p.Line >= len(pak.Lines) {
		return nil, apiErr("bad_request", "PAK %s has no line %d", p.PAK, p.Line+1)
	}
	if id, ok := s.d.redeemed[redeemKey(p.License.UDI, p.PAK, p.License.Feature)]; ok {
		return s.d.Licenses[id], nil
	}
	line := &pak.Lines[p.Line]
	if line.Remaining() <= 0 {
		return nil, apiErr("pak_exhausted", "PAK %s line %d (%s %s) is used up: %d of %d redeemed",
			p.PAK, p.Line+1, line.Type, line.Feature, line.Used, line.Quantity)
	}
	line.Used++
	l := p.License
	l.State = LicenseIssued
	l.Updated = c.Time
	l.History = []Event{{Time: c.Time, Actor: c.Actor, What: "issued from PAK " + p.PAK}}
	s.d.Licenses[l.ID] = &l
	s.d.redeemed[redeemKey(l.UDI, l.PAK, l.Feature)] = l.ID
	return &l, nil
}

func (s *State) applyJobResults(c *Command, p jobResults) (any, *APIError) {
	j, ok := s.d.Jobs[p.ID]
	if !ok {
		return nil, apiErr("not_found", "job %s does not exist", p.ID)
	}
	for _, r := range p.Results {
		j.Results = append(j.Results, r)
		if r.OK {
			j.Done++
		} else {
			j.Failed++
		}
	}
	return nil, nil
}

// Snapshot implements raftstore's StateMachine: it copies the state (as
// JSON) under the lock and writes it out later.
func (s *State) Snapshot() (func(w io.Writer) error, error) {
	s.mu.RLock()
	data, err := json.Marshal(&s.d)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, nil
}

// Restore implements raftstore's StateMachine.
func (s *State) Restore(r io.Reader) error {
	d := emptyData()
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return fmt.Errorf("broker: restore snapshot: %w", err)
	}
	s.mu.Lock()
	s.d = d
	s.mu.Unlock()
	return nil
}

// read runs f with the state read-locked.
func (s *State) read(f func(d *stateData)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(&s.d)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
