package broker

import (
	"encoding/json"
	"fmt"
	"io"

	gojson "github.com/goccy/go-json"
)

// ApplyBatch implements raftstore.BatchApplier: it applies the commands of
// one log entry under one lock and encodes results only when a proposer
// waits on this node (on followers nobody does, and encoding a result
// costs as much as applying the command). The state comes out exactly as
// from Apply.
func (s *State) ApplyBatch(index uint64, cmds [][]byte, wantResults bool) [][]byte {
	var out [][]byte
	if wantResults {
		out = make([][]byte, len(cmds))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, raw := range cmds {
		var c Command
		if err := gojson.Unmarshal(raw, &c); err != nil {
			panic(fmt.Sprintf("broker: undecodable command at index %d: %v", index, err))
		}
		s.d.Index = index
		a := &applier{d: &s.d, c: &c, index: index}
		var (
			data any
			aerr *APIError
		)
		if c.Type == CmdRedeem {
			// The hot command (one per activation record): decoded with
			// the faster decoder, then exactly what apply does for it.
			var p redeem
			if err := gojson.Unmarshal(c.Payload, &p); err != nil {
				panic(fmt.Sprintf("broker: undecodable %s payload: %v", c.Type, err))
			}
			data, aerr = a.redeem(p)
		} else {
			data, aerr = a.apply()
		}
		if wantResults {
			out[i] = encodeResult(&c, data, aerr)
		}
	}
	return out
}

// encodeResult is the result bytes Apply returns for a command.
func encodeResult(c *Command, data any, aerr *APIError) []byte {
	res := Result{Error: aerr}
	if aerr == nil && data != nil {
		b, err := gojson.Marshal(data)
		if err != nil {
			panic(fmt.Sprintf("broker: encode result of %s: %v", c.Type, err))
		}
		res.Data = b
	}
	out, err := gojson.Marshal(res)
	if err != nil {
		panic(err)
	}
	return out
}

// ValidateSnapshot implements raftstore.SnapshotValidator: it decodes a
// snapshot the way Restore does, without touching the state, so that a
// restore of a file that is intact but holds no broker state is refused
// before the leader takes it.
func (s *State) ValidateSnapshot(r io.Reader) error {
	d := emptyData()
	dec := json.NewDecoder(r)
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("broker: not a broker state: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("broker: not a broker state: data after the state")
	}
	return nil
}
