package raftstore

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// NodeStatus is one member as it reports itself.
type NodeStatus struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"`
	// Status is the node's own view; nil when it could not be asked.
	Status *Status `json:"status,omitempty"`
	// Error says why the node could not be asked.
	Error string `json:"error,omitempty"`
}

// ClusterStatus is every member's own report, gathered by one node.
type ClusterStatus struct {
	// Via is the node that gathered the report.
	Via    string       `json:"via"`
	Leader string       `json:"leader_id"`
	Term   uint64       `json:"term"`
	Nodes  []NodeStatus `json:"nodes"`
}

// ClusterStatus asks every member of the configuration for its status
// (role, term, leader, last contact, commit and applied index), in
// parallel, each within a short deadline. Unreachable members are listed
// with the error.
func (s *Store) ClusterStatus(ctx context.Context) ClusterStatus {
	self := s.Status()
	cs := ClusterStatus{Via: self.NodeID, Leader: self.Leader, Term: self.Term}
	cs.Nodes = make([]NodeStatus, len(self.Servers))
	var wg sync.WaitGroup
	for i, srv := range self.Servers {
		cs.Nodes[i] = NodeStatus{ID: srv.ID, Addr: srv.Addr, Suffrage: srv.Suffrage}
		if srv.ID == self.NodeID {
			st := self
			cs.Nodes[i].Status = &st
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			res, err := s.call(cctx, srv.Addr, opStatus, nil)
			var st Status
			if err == nil {
				err = json.Unmarshal(res, &st)
			}
			if err != nil {
				cs.Nodes[i].Error = err.Error()
				return
			}
			cs.Nodes[i].Status = &st
		}()
	}
	wg.Wait()
	return cs
}
