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
	s.d.Index = index
	var c Command
	a := &applier{d: &s.d, c: &c, index: index}
	// Results of redemptions are appended to one buffer (a new one when
	// it is full), not allocated one by one.
	var buf []byte
	for i, raw := range cmds {
		c = Command{}
		if len(raw) > 0 && raw[0] == cmdBinaryV1 {
			decodeBinary(raw, &c, s.str)
		} else if err := gojson.Unmarshal(raw, &c); err != nil {
			panic(fmt.Sprintf("broker: undecodable command at index %d: %v", index, err))
		}
		if c.Type == CmdRedeem {
			// The hot command (one per activation record): a JSON one is
			// decoded with the faster decoder; the result is not boxed.
			p := c.redeem
			if p == nil {
				p = new(redeem)
				if err := gojson.Unmarshal(c.Payload, p); err != nil {
					panic(fmt.Sprintf("broker: undecodable %s payload: %v", c.Type, err))
				}
			}
			l, existing, aerr := a.redeemLicense(p)
			if wantResults {
				if aerr != nil {
					out[i] = encodeResult(&c, nil, aerr, gojson.Marshal)
				} else {
					if need := 640 + len(l.File)*4/3; cap(buf)-len(buf) < need {
						buf = make([]byte, 0, max(need, 64<<10))
					}
					start := len(buf)
					buf = appendRedeemResult(buf, l, existing)
					out[i] = buf[start:len(buf):len(buf)]
				}
			}
			continue
		}
		data, aerr := a.apply()
		if wantResults {
			out[i] = encodeResult(&c, data, aerr, gojson.Marshal)
		}
	}
	return out
}

// encodeResult is the result bytes Apply returns for a command. marshal
// is encoding/json's or goccy's (they agree, tested); a successful
// redemption is encoded without either.
func encodeResult(c *Command, data any, aerr *APIError, marshal func(any) ([]byte, error)) []byte {
	if r, ok := data.(redeemResult); ok && aerr == nil {
		return appendRedeemResult(nil, &r.License, r.Existing)
	}
	res := Result{Error: aerr}
	if aerr == nil && data != nil {
		b, err := marshal(data)
		if err != nil {
			panic(fmt.Sprintf("broker: encode result of %s: %v", c.Type, err))
		}
		res.Data = b
	}
	out, err := marshal(res)
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
