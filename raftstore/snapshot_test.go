package raftstore_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/licbroker/licbroker/raftstore"
	"github.com/licbroker/licbroker/raftstore/raftstoretest"
)

// A saved snapshot restores the whole cluster to it; a damaged file is
// refused with a clear error and changes nothing.
func TestSnapshotSaveRestore(t *testing.T) {
	c := raftstoretest.Start(t, 3, newLedger, nil)
	l := c.Leader()
	f := c.Follower()
	for k := range 30 {
		if _, err := c.Nodes[f].Apply(ctxT(t, 5*time.Second), fmt.Appendf(nil, "put saved-%d", k)); err != nil {
			t.Fatal(err)
		}
	}
	var file bytes.Buffer
	info, err := c.Nodes[f].SnapshotSave(ctxT(t, 10*time.Second), &file)
	if err != nil {
		t.Fatalf("save on a follower: %v", err)
	}
	if info.Index == 0 || len(info.SHA256) != 64 {
		t.Fatalf("snapshot info %+v", info)
	}
	for k := range 10 {
		if _, err := c.Nodes[l].Apply(ctxT(t, 5*time.Second), fmt.Appendf(nil, "put later-%d", k)); err != nil {
			t.Fatal(err)
		}
	}
	waitAgree(t, c, 40)

	good := file.Bytes()
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 0x20
	header := bytes.Clone(good)
	copy(header[len("LICBROKER-RAFTSTORE-SNAPSHOT 1\n"):], `{"nod"`)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"flipped bit", flip, "checksum mismatch"},
		{"truncated", good[:len(good)-100], "truncated"},
		{"trailing garbage", append(bytes.Clone(good), "xx"...), "unexpected bytes"},
		{"not a snapshot", []byte("hello world\n"), "not a raftstore snapshot"},
		{"empty", nil, "not a raftstore snapshot"},
		{"damaged header", header, "header is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.Nodes[l].Status().LastIndex
			_, err := c.Nodes[f].SnapshotRestore(ctxT(t, 10*time.Second), bytes.NewReader(tc.file))
			if !errors.Is(err, raftstore.ErrBadSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrBadSnapshot with %q", err, tc.want)
			}
			if got := c.Nodes[l].Status().LastIndex; got != before {
				t.Fatalf("log moved from %d to %d", before, got)
			}
			if v := ledger(c, l); len(v.Puts) != 40 {
				t.Fatalf("state changed: %d puts", len(v.Puts))
			}
		})
	}
	// An intact file whose content is not a ledger state is refused by
	// the state machine's validator before the leader sees it.
	data := []byte(`{"not":"a ledger"}`)
	alien := fmt.Appendf(nil, "LICBROKER-RAFTSTORE-SNAPSHOT 1\n{\"node\":\"x\",\"index\":5,\"term\":1,\"size\":%d,\"created\":\"2026-01-01T00:00:00Z\",\"sha256\":\"\"}\n%s", len(data), data)
	sum := sha256.Sum256(alien)
	alien = fmt.Appendf(alien, "sha256:%x\n", sum)
	if _, _, err := raftstore.VerifySnapshot(alien); err != nil {
		t.Fatalf("hand-made file: %v", err)
	}
	if _, err := c.Nodes[l].SnapshotRestore(ctxT(t, 5*time.Second), bytes.NewReader(alien)); !errors.Is(err, raftstore.ErrBadSnapshot) ||
		!strings.Contains(err.Error(), "not one this store accepts") {
		t.Fatalf("alien state: %v", err)
	}

	// The good file restores every node to the saved state, through a follower.
	if _, err := c.Nodes[f].SnapshotRestore(ctxT(t, 20*time.Second), bytes.NewReader(good)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for i := range c.Nodes {
		for {
			v := ledger(c, i)
			if len(v.Puts) == 30 && v.Puts[29] == "saved-29" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after restore: %d puts", c.Cfgs[i].NodeID, len(v.Puts))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := c.Nodes[f].Apply(ctxT(t, 5*time.Second), []byte("put after-restore")); err != nil {
		t.Fatal(err)
	}
	waitAgree(t, c, 31)
}
