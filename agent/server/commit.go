package server

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Group commit. Terraform writes many objects in parallel (ten at a time by default), and each
// write used to cost a store write (fsync) and an Apply of the whole state, so that creating n
// objects cost n of each. Writes that arrive while a commit is under way now wait for it and then
// go together: their changes are made in arrival order on one copy of the state, which is stored
// once and applied once. Each caller still gets its own answer: a change that is refused (not
// found, conflict, validation against the state) fails alone and is not stored.

// write is one change waiting to be committed.
type write struct {
	change func(*store.State) error
	done   chan writeResult // buffered: the committer never waits for the caller
}

type writeResult struct {
	st  *store.State // the state the change is part of; shared, read only
	err error
}

// commit stores a change and applies the new state, together with the changes of concurrent
// callers. change gets a copy of the state whose maps are its own but whose objects are shared
// with the current state: it may set and delete map entries and replace objects, and must copy
// an object before changing it (see ownRealServers). It must leave the state as it found it when
// it returns an error. A failed apply
// keeps the change stored: the agent retries it at every resync, and the caller learns that it is
// not in effect yet. The returned state is shared: callers read it and never change it.
//
// gate is the request's place in its batch's commitGate, nil for a request on its own (see
// gateOf): a write of a batch waits for the batch's other writes, which then go in one commit;
// the last of them to arrive (or to be answered without writing) queues them all.
func (s *Server) commit(gate *gateItem, change func(*store.State) error) (*store.State, error) {
	w := &write{change: change, done: make(chan writeResult, 1)}
	if gate == nil || !gate.arrive(w) {
		s.qmu.Lock()
		s.queue = append(s.queue, w)
		s.qmu.Unlock()
		s.startCommitter()
	}
	// The write is not abandoned when the caller goes away: it is stored and applied like the
	// others, so the answer is awaited whatever the request's context does.
	r := <-w.done
	return r.st, r.err
}

// startCommitter commits what is queued unless a committer already runs.
func (s *Server) startCommitter() {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if !s.committing && len(s.queue) > 0 {
		s.committing = true
		go s.commitQueued()
	}
}

// commitGate holds back the writes of a batch until every request of the batch has either made
// its write or been answered without one; then it queues them together. (Queued one by one, a
// committer still running could take the first ones alone.)
type commitGate struct {
	s       *Server
	mu      sync.Mutex
	pending int
	writes  []*write
}

// gateItem is one request's place in a commitGate; it arrives once.
type gateItem struct {
	g    *commitGate
	once sync.Once
}

func (s *Server) newCommitGate(n int) *commitGate { return &commitGate{s: s, pending: n} }

// item returns the place of one request of the batch.
func (g *commitGate) item() *gateItem { return &gateItem{g: g} }

// gateOf returns the gate of the request answered through w: the batch's recorder carries it,
// any other writer answers a request on its own (nil).
func gateOf(w http.ResponseWriter) *gateItem {
	if r, ok := w.(*recorder); ok {
		return r.gate
	}
	return nil
}

// arrive records that the request has made its write w (nil: it finished without one); it
// returns false when the request had already arrived (a second write of one request is
// committed on its own).
func (it *gateItem) arrive(w *write) bool {
	first := false
	it.once.Do(func() {
		first = true
		g := it.g
		g.mu.Lock()
		if w != nil {
			g.writes = append(g.writes, w)
		}
		g.pending--
		var ready []*write
		if g.pending == 0 {
			ready, g.writes = g.writes, nil
		}
		g.mu.Unlock()
		if len(ready) > 0 {
			s := g.s
			s.qmu.Lock()
			s.queue = append(s.queue, ready...)
			s.qmu.Unlock()
			s.startCommitter()
		}
	})
	return first
}

// commitQueued commits batches until the queue is empty; only one runs at a time, so it is the
// only writer of s.state.
func (s *Server) commitQueued() {
	for {
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			s.committing = false
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()
		s.commitBatch(batch)
	}
}

func (s *Server) commitBatch(batch []*write) {
	start := time.Now()
	st, errs, saveErr := s.update(batch)
	stored := time.Since(start)
	var applyErr error
	if st != nil {
		// The apply belongs to every write of the batch, so no one request's context bounds it;
		// the parts bound their own kernel and network calls.
		applyErr = s.apply(context.Background(), st, reconcile.Change)
	}
	if s.observe != nil {
		s.observe("commit", time.Since(start))
	}
	s.log.Debug("committed", "writes", len(batch), "serial", s.view().Serial, "store", stored, "apply", time.Since(start)-stored)
	for i, w := range batch {
		switch {
		case errs[i] != nil:
			w.done <- writeResult{err: errs[i]}
		case saveErr != nil:
			w.done <- writeResult{err: saveErr}
		case applyErr != nil:
			w.done <- writeResult{st: st, err: fmt.Errorf("stored, but applying it failed (the agent retries): %w", applyErr)}
		default:
			w.done <- writeResult{st: st}
		}
	}
}

// update makes the batch's changes on a copy of the state, saves it and only then makes it
// current, so a failed save leaves memory and disk agreeing. It returns the new state (nil when
// no change was accepted or the save failed), each change's own error, and the save error.
func (s *Server) update(batch []*write) (*store.State, []error, error) {
	next := shallowCopy(s.view())
	errs := make([]error, len(batch))
	accepted := 0
	for i, w := range batch {
		if errs[i] = w.change(next); errs[i] == nil {
			next.Serial++
			accepted++
		}
	}
	if accepted == 0 {
		return nil, errs, nil
	}
	if err := s.store.Commit(s.view(), next); err != nil {
		return nil, errs, err
	}
	s.mu.Lock()
	s.state = next
	s.mu.Unlock()
	return next, errs, nil
}

// view returns the current state for reading. Writes replace it and never change it, so readers
// share it without copying; they must not change it either.
func (s *Server) view() *store.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// shallowCopy copies st and its maps, not the objects in them: a deep copy of a state with
// thousands of real servers for every commit made creating them cost O(n²).
func shallowCopy(st *store.State) *store.State {
	next := *st
	next.VIPs = maps.Clone(st.VIPs)
	next.VirtualServers = maps.Clone(st.VirtualServers)
	next.RealServerBindings = maps.Clone(st.RealServerBindings)
	return &next
}

// ownRealServers replaces the virtual server at key in st with a copy whose real server map the
// caller may change, and returns it; nil if there is none.
func ownRealServers(st *store.State, key string) *agentapi.VirtualServer {
	vs := st.VirtualServers[key]
	if vs == nil {
		return nil
	}
	own := *vs
	own.RealServers = maps.Clone(vs.RealServers)
	st.VirtualServers[key] = &own
	return &own
}
