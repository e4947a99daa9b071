package raftstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// A snapshot file is a magic line, a JSON header line, the state machine's
// snapshot bytes (header.Size of them) and a trailer line
// "sha256:<hex>\n" over everything before it. Restore checks all of it
// before anything is changed.
const snapshotMagic = "LICBROKER-RAFTSTORE-SNAPSHOT 1\n"

// MaxSnapshotFile bounds a snapshot file accepted by SnapshotRestore.
const MaxSnapshotFile = 1 << 30

// SnapshotInfo describes a snapshot file.
type SnapshotInfo struct {
	Node    string    `json:"node"`
	Index   uint64    `json:"index"`
	Term    uint64    `json:"term"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
	// SHA256 is the checksum in the file's trailer (hex).
	SHA256 string `json:"sha256"`
}

// SnapshotSave writes a snapshot file of this node's state, taken after
// a read barrier (so it holds every write committed before the call), to
// w.
func (s *Store) SnapshotSave(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	if err := s.Barrier(ctx); err != nil {
		return SnapshotInfo{}, err
	}
	var (
		meta *raft.SnapshotMeta
		rc   io.ReadCloser
	)
	f := s.raft.Snapshot()
	err := f.Error()
	switch {
	case err == nil:
		meta, rc, err = f.Open()
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		var list []*raft.SnapshotMeta
		if list, err = s.snaps.List(); err == nil {
			if len(list) == 0 {
				return SnapshotInfo{}, errors.New("raftstore: no snapshot to save yet")
			}
			meta, rc, err = s.snaps.Open(list[0].ID)
		}
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("raftstore: taking snapshot: %w", err)
	}
	defer rc.Close()
	info := SnapshotInfo{Node: s.cfg.NodeID, Index: meta.Index, Term: meta.Term, Size: meta.Size, Created: time.Now().UTC()}
	head, _ := json.Marshal(info)
	h := sha256.New()
	mw := io.MultiWriter(w, h)
	if _, err := io.WriteString(mw, snapshotMagic+string(head)+"\n"); err != nil {
		return info, fmt.Errorf("raftstore: writing snapshot: %w", err)
	}
	if n, err := io.Copy(mw, rc); err != nil || n != meta.Size {
		return info, fmt.Errorf("raftstore: writing snapshot: copied %d of %d bytes: %v", n, meta.Size, err)
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	if _, err := io.WriteString(w, "sha256:"+info.SHA256+"\n"); err != nil {
		return info, fmt.Errorf("raftstore: writing snapshot: %w", err)
	}
	return info, nil
}

// VerifySnapshot checks a snapshot file and returns its description and
// the state bytes. Errors wrap ErrBadSnapshot and say what is wrong.
func VerifySnapshot(file []byte) (SnapshotInfo, []byte, error) {
	var info SnapshotInfo
	bad := func(format string, args ...any) (SnapshotInfo, []byte, error) {
		return info, nil, fmt.Errorf("%w: "+format, append([]any{ErrBadSnapshot}, args...)...)
	}
	if !bytes.HasPrefix(file, []byte(snapshotMagic)) {
		return bad("not a raftstore snapshot (no %q header)", strings.TrimSpace(snapshotMagic))
	}
	rest := file[len(snapshotMagic):]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 || nl > 4096 {
		return bad("header line is missing or damaged")
	}
	dec := json.NewDecoder(bytes.NewReader(rest[:nl]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return bad("header is damaged: %v", err)
	}
	if info.Size < 0 {
		return bad("header gives a negative size")
	}
	body := rest[nl+1:]
	const trailerLen = len("sha256:") + 64 + 1
	if int64(len(body)) < info.Size+int64(trailerLen) {
		return bad("truncated: the header promises %d bytes of state and a checksum, the file has %d bytes after the header", info.Size, len(body))
	}
	if int64(len(body)) > info.Size+int64(trailerLen) {
		return bad("%d unexpected bytes after the state", int64(len(body))-info.Size-int64(trailerLen))
	}
	data := body[:info.Size]
	trailer := string(body[info.Size:])
	want, ok := strings.CutPrefix(trailer, "sha256:")
	want = strings.TrimSuffix(want, "\n")
	if !ok || len(want) != 64 {
		return bad("checksum trailer is damaged")
	}
	sum := sha256.Sum256(file[:len(file)-trailerLen])
	if got := hex.EncodeToString(sum[:]); got != want {
		return bad("checksum mismatch (file says %s…, content hashes to %s…): the file is damaged", want[:12], got[:12])
	}
	info.SHA256 = want
	return info, data, nil
}

// SnapshotRestore replaces the whole cluster's state with a snapshot file
// (disaster recovery). The file is checked completely (format, size,
// checksum and, when the state machine is a SnapshotValidator, its
// content) before anything changes; a bad file is refused with an error
// wrapping ErrBadSnapshot. The restore runs on the leader, which then
// sends the state to every follower.
func (s *Store) SnapshotRestore(ctx context.Context, r io.Reader) (SnapshotInfo, error) {
	file, err := io.ReadAll(io.LimitReader(bufio.NewReader(r), MaxSnapshotFile+1))
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("raftstore: reading snapshot: %w", err)
	}
	if len(file) > MaxSnapshotFile {
		return SnapshotInfo{}, fmt.Errorf("%w: larger than %d bytes", ErrBadSnapshot, MaxSnapshotFile)
	}
	info, data, err := VerifySnapshot(file)
	if err != nil {
		return info, err
	}
	if err := s.validate(data); err != nil {
		return info, err
	}
	return info, s.onLeader(ctx, opRestore, file, func() error { return s.restoreLocal(ctx, file) })
}

func (s *Store) validate(data []byte) error {
	if v, ok := s.fsm.sm.(SnapshotValidator); ok {
		if err := v.ValidateSnapshot(bytes.NewReader(data)); err != nil {
			return fmt.Errorf("%w: the checksum is right but the state is not one this store accepts: %v", ErrBadSnapshot, err)
		}
	}
	return nil
}

func (s *Store) restoreLocal(ctx context.Context, file []byte) error {
	info, data, err := VerifySnapshot(file)
	if err != nil {
		return err
	}
	if err := s.validate(data); err != nil {
		return err
	}
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: info.Index, Term: info.Term, Size: int64(len(data))}
	if err := s.raft.Restore(meta, bytes.NewReader(data), timeout); err != nil {
		return fmt.Errorf("raftstore: restore: %w", translate(err))
	}
	s.readyTerm.Store(0)
	return nil
}
