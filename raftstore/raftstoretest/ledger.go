package raftstoretest

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Ledger is a small deterministic state machine for tests: it records
// every "put ID" in order (so a test can see that nothing was applied
// twice or lost) and keeps a counted balance that "redeem ID" spends
// without ever going below zero.
//
// Commands (text): "put ID", "init N" (sets the balance once),
// "redeem ID". Results: "ok N" (N = entries or remaining balance),
// "exhausted", "error ...".
type Ledger struct {
	mu       sync.Mutex
	d        ledgerData
	restores int
}

type ledgerData struct {
	Index    uint64   `json:"index"`
	Puts     []string `json:"puts"`
	Balance  int64    `json:"balance"`
	Init     bool     `json:"init"`
	Redeemed []string `json:"redeemed"`
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{} }

// Apply implements raftstore.StateMachine.
func (l *Ledger) Apply(index uint64, cmd []byte) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d.Index = index
	op, arg, _ := strings.Cut(string(cmd), " ")
	switch op {
	case "put":
		l.d.Puts = append(l.d.Puts, arg)
		return []byte("ok " + strconv.Itoa(len(l.d.Puts)))
	case "init":
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return []byte("error " + err.Error())
		}
		if !l.d.Init {
			l.d.Init, l.d.Balance = true, n
		}
		return []byte("ok " + strconv.FormatInt(l.d.Balance, 10))
	case "redeem":
		if l.d.Balance <= 0 {
			return []byte("exhausted")
		}
		l.d.Balance--
		l.d.Redeemed = append(l.d.Redeemed, arg)
		return []byte("ok " + strconv.FormatInt(l.d.Balance, 10))
	}
	return []byte("error unknown command " + strconv.Quote(op))
}

// Snapshot implements raftstore.StateMachine.
func (l *Ledger) Snapshot() (func(w io.Writer) error, error) {
	l.mu.Lock()
	b, err := json.Marshal(l.d)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error { _, err := w.Write(b); return err }, nil
}

// Restore implements raftstore.StateMachine.
func (l *Ledger) Restore(r io.Reader) error {
	var d ledgerData
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return fmt.Errorf("raftstoretest: restore ledger: %w", err)
	}
	l.mu.Lock()
	l.d = d
	l.restores++
	l.mu.Unlock()
	return nil
}

// ValidateSnapshot implements raftstore.SnapshotValidator.
func (l *Ledger) ValidateSnapshot(r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var d ledgerData
	return dec.Decode(&d)
}

// LedgerView is a copy of a ledger's state.
type LedgerView struct {
	Index    uint64   `json:"index"`
	Puts     []string `json:"puts"`
	Balance  int64    `json:"balance"`
	Redeemed []string `json:"redeemed"`
	Restores int      `json:"restores"`
}

// View returns a copy of the state.
func (l *Ledger) View() LedgerView {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LedgerView{Index: l.d.Index, Puts: append([]string(nil), l.d.Puts...), Balance: l.d.Balance,
		Redeemed: append([]string(nil), l.d.Redeemed...), Restores: l.restores}
}
