package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
)

// State is the replicated state: every tenant, device, PAK, license, spare,
// job, credential, token, idempotency key and audit entry. It implements
// raftstore's StateMachine; Apply is deterministic: it reads no clock, no
// randomness and does no I/O — times, ids and signed keys travel inside the
// commands.
type State struct {
	mu sync.RWMutex
	d  stateData
	// strs and recent intern strings of decoded commands (see str): a
	// cache that changes no value.
	strs       map[string]string
	recent     [8]string
	nextRecent uint8
}

type stateData struct {
	Index       uint64                 `json:"index"`
	Tenants     map[string]*Tenant     `json:"tenants"`
	Devices     map[string]*Device     `json:"devices"`
	PAKs        map[string]*PAK        `json:"paks"`
	Licenses    map[string]*License    `json:"licenses"`
	Spares      map[string]*Spare      `json:"spares"`
	Jobs        map[string]*Job        `json:"jobs"`
	Credentials map[string]*Credential `json:"credentials"` // key: tenant/name
	Tokens      map[string]*Token      `json:"tokens"`      // key: hash
	Policies    map[string]*Policy     `json:"policies"`    // key: tenant/name

	// Rehosts maps a failed device's UDI to its rehost; HostKeys maps a
	// device address to the host key a rehost accepted there;
	// Evaluations maps UDI/feature to a tracked evaluation license.
	Rehosts     map[string]*Rehost          `json:"rehosts"`
	HostKeys    map[string]*HostKeyApproval `json:"host_keys"`
	Evaluations map[string]*Evaluation      `json:"evaluations"`

	// Idem maps principal/Idempotency-Key to the request's outcome;
	// IdemOrder holds the keys oldest first, for eviction.
	Idem      map[string]*idemEntry `json:"idempotency"`
	IdemOrder []idemRef             `json:"idempotency_order"`

	// AuditSeq is the last audit sequence number handed out.
	AuditSeq uint64 `json:"audit_seq"`

	// byUDI indexes license ids by device UDI; derived, rebuilt on
	// restore.
	byUDI map[string][]string
	// jobDone indexes, per job, the targets that have a result; derived,
	// rebuilt on restore.
	jobDone map[string]map[string]struct{}
	// lastIssued caches issuedWhat; it changes no value.
	lastIssued issuedFrom

	// Audit holds the newest maxAudit entries, oldest first. It stays the
	// last field: Snapshot writes it after the rest, outside the lock.
	Audit auditLog `json:"audit"`
}

type issuedFrom struct {
	pak  string
	line int
	what string
}

// NewState returns an empty state.
func NewState() *State {
	return &State{d: emptyData()}
}

func emptyData() stateData {
	return stateData{Tenants: map[string]*Tenant{}, Devices: map[string]*Device{}, PAKs: map[string]*PAK{},
		Licenses: map[string]*License{}, Spares: map[string]*Spare{}, Jobs: map[string]*Job{},
		Credentials: map[string]*Credential{}, Tokens: map[string]*Token{}, Idem: map[string]*idemEntry{},
		Policies: map[string]*Policy{}, Rehosts: map[string]*Rehost{}, HostKeys: map[string]*HostKeyApproval{}, Evaluations: map[string]*Evaluation{},
		byUDI: map[string][]string{}, jobDone: map[string]map[string]struct{}{}}
}

// fillNil replaces maps that a snapshot left null with empty ones.
func (d *stateData) fillNil() {
	e := emptyData()
	if d.Tenants == nil {
		d.Tenants = e.Tenants
	}
	if d.Devices == nil {
		d.Devices = e.Devices
	}
	if d.PAKs == nil {
		d.PAKs = e.PAKs
	}
	if d.Licenses == nil {
		d.Licenses = e.Licenses
	}
	if d.Spares == nil {
		d.Spares = e.Spares
	}
	if d.Jobs == nil {
		d.Jobs = e.Jobs
	}
	if d.Credentials == nil {
		d.Credentials = e.Credentials
	}
	if d.Tokens == nil {
		d.Tokens = e.Tokens
	}
	if d.Idem == nil {
		d.Idem = e.Idem
	}
	if d.Policies == nil {
		d.Policies = e.Policies
	}
	if d.Rehosts == nil {
		d.Rehosts = e.Rehosts
	}
	if d.HostKeys == nil {
		d.HostKeys = e.HostKeys
	}
	if d.Evaluations == nil {
		d.Evaluations = e.Evaluations
	}
}

func (d *stateData) reindex() {
	d.byUDI = map[string][]string{}
	for _, id := range sortedKeys(d.Licenses) {
		l := d.Licenses[id]
		d.byUDI[l.UDI] = append(d.byUDI[l.UDI], id)
	}
	d.reindexJobs()
}

// addLicense stores a license record and indexes it.
func (d *stateData) addLicense(l *License) {
	d.Licenses[l.ID] = l
	d.byUDI[l.UDI] = append(d.byUDI[l.UDI], l.ID)
}

// Apply applies one command. A command that cannot be decoded is a bug and
// panics; business failures are returned as Result.Error.
func (s *State) Apply(index uint64, raw []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c Command
	if len(raw) > 0 && raw[0] == cmdBinaryV1 {
		decodeBinary(raw, &c, s.str)
	} else if err := json.Unmarshal(raw, &c); err != nil {
		panic(fmt.Sprintf("broker: undecodable command at index %d: %v", index, err))
	}
	s.d.Index = index
	a := &applier{d: &s.d, c: &c, index: index}
	data, aerr := a.apply()
	return encodeResult(&c, data, aerr, json.Marshal)
}

// str makes the strings of a binary command (see decodeBinary): common
// ones (tenants, PAK ids, features, types, actors) are interned, so the
// records that hold them share one copy; the few most recent are checked
// before the map. Called with the state locked.
func (s *State) str(b []byte, kind strKind) string {
	if kind != strCommon {
		return string(b)
	}
	for _, v := range s.recent {
		if v == string(b) {
			return v
		}
	}
	v, ok := s.strs[string(b)]
	if !ok {
		v = string(b)
		if len(s.strs) >= maxInterned {
			clear(s.strs)
		}
		if s.strs == nil {
			s.strs = map[string]string{}
		}
		s.strs[v] = v
	}
	s.recent[s.nextRecent%uint8(len(s.recent))] = v
	s.nextRecent++
	return v
}

// maxInterned bounds State.strs; when it fills up it starts again.
const maxInterned = 4096

// applier applies one command to the state data.
type applier struct {
	d     *stateData
	c     *Command
	index uint64
}

func decode[T any](c *Command) T {
	var v T
	if err := json.Unmarshal(c.Payload, &v); err != nil {
		panic(fmt.Sprintf("broker: undecodable %s payload: %v", c.Type, err))
	}
	return v
}

func (a *applier) apply() (any, *APIError) {
	c := a.c
	switch c.Type {
	case CmdTenantCreate:
		return a.tenantCreate(decode[tenantCreate](c))
	case CmdTokenCreate:
		return a.tokenCreate(decode[tokenCreate](c))
	case CmdTokenRevoke:
		return a.tokenRevoke(decode[tokenRevoke](c))
	case CmdCredentialPut:
		return a.credentialPut(decode[credentialPut](c))
	case CmdDevicesUpsert:
		return a.devicesUpsert(decode[devicesUpsert](c))
	case CmdDeviceGroups:
		return a.deviceGroups(decode[deviceGroups](c))
	case CmdPAKAdd:
		return a.pakAdd(decode[pakAdd](c))
	case CmdRedeem:
		if c.redeem != nil {
			return a.redeem(c.redeem)
		}
		p := decode[redeem](c)
		return a.redeem(&p)
	case CmdLicenseState:
		return a.licenseState(decode[licenseState](c))
	case CmdSpareAdd:
		return a.spareAdd(decode[spareAdd](c))
	case CmdSpareAssign:
		return a.spareAssign(decode[spareAssign](c))
	case CmdJobCreate:
		return a.jobCreate(decode[jobCreate](c))
	case CmdJobResults:
		return a.jobResults(decode[jobResults](c))
	case CmdJobFinish:
		return a.jobFinish(decode[jobFinish](c))
	case CmdJobCancel:
		return a.jobCancel(decode[jobCancel](c))
	case CmdJobClaim:
		return a.jobClaim(decode[jobClaim](c))
	case CmdPolicyPut:
		return a.policyPut(decode[policyPut](c))
	case CmdPolicyDelete:
		return a.policyDelete(decode[policyDelete](c))
	case CmdRehostCreate:
		return a.rehostCreate(decode[rehostCreate](c))
	case CmdRehostRMA:
		return a.rehostRMA(decode[rehostRMA](c))
	case CmdRehostInstalled:
		return a.rehostInstalled(decode[rehostInstalled](c))
	case CmdEvaluationActivate:
		return a.evaluationActivate(decode[evaluationActivate](c))
	case CmdIdemBegin:
		return a.idemBegin(decode[idemBegin](c))
	case CmdIdemEnd:
		return a.idemEnd(decode[idemEnd](c))
	}
	panic(fmt.Sprintf("broker: unknown command type %q", c.Type))
}

// Snapshot implements raftstore's StateMachine: it encodes the state (as
// JSON) under the lock, except the audit log, which it writes later from a
// frozen view (audit records never change once written).
func (s *State) Snapshot() (func(w io.Writer) error, error) {
	s.mu.RLock()
	d := s.d
	audit := s.d.Audit.frozen()
	d.Audit = auditLog{}
	data, err := json.Marshal(&d)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	// The audit log is the last field: data ends with "audit":[]}.
	const tail = `[]}`
	if !bytes.HasSuffix(data, []byte(`"audit":`+tail)) {
		return nil, fmt.Errorf("broker: snapshot: state does not end with the audit log")
	}
	data = data[:len(data)-len(tail)]
	return func(w io.Writer) error {
		if _, err := w.Write(data); err != nil {
			return err
		}
		if err := audit.writeJSON(w); err != nil {
			return err
		}
		_, err := io.WriteString(w, "}")
		return err
	}, nil
}

// Restore implements raftstore's StateMachine.
func (s *State) Restore(r io.Reader) error {
	d := emptyData()
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return fmt.Errorf("broker: restore snapshot: %w", err)
	}
	d.fillNil()
	d.reindex()
	s.mu.Lock()
	s.d = d
	s.mu.Unlock()
	return nil
}

// AppliedIndex returns the log index of the last applied command.
func (s *State) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Index
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

// sortBy sorts items by a string key, computing each key once.
func sortBy[T any](items []T, key func(T) string) {
	type kv struct {
		k string
		v T
	}
	tmp := make([]kv, len(items))
	for i, it := range items {
		tmp[i] = kv{key(it), it}
	}
	sort.SliceStable(tmp, func(i, j int) bool { return tmp[i].k < tmp[j].k })
	for i := range tmp {
		items[i] = tmp[i].v
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
