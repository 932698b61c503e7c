// Package server is the agent's API: versioned HTTP+JSON on a root-only unix socket.
//
// Every change is validated before anything is stored or applied, then saved atomically and handed
// to the Reconciler. Objects have their own paths so that parallel Terraform operations touch
// different objects and never overwrite each other.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// Config holds what a Server needs.
type Config struct {
	Store      *store.Store
	Reconciler reconcile.Reconciler
	// IPVS, if set, is the part of Reconciler that programs IPVS: its report is served at
	// agentapi.PathIPVS (an empty table without it).
	IPVS   IPVSReporter
	Logger *slog.Logger
	// Resync is how often the desired state is re-applied to repair drift; zero disables it.
	Resync time.Duration
	// Observe, if set, is told how long each apply took (for metrics): what is "commit" for a
	// batch of writes (store and apply), or why the current state was re-applied ("resync", ...).
	Observe func(what string, took time.Duration)
	// CheckLink, if set, tells why an interface a VIP names cannot carry its addresses (it is
	// not on this host): such a VIP is refused before anything is stored or applied.
	CheckLink func(name string) error
}

// Server serves the agent API.
type Server struct {
	store   *store.Store
	rec     reconcile.Reconciler
	ipvs    IPVSReporter
	log     *slog.Logger
	resync  time.Duration
	started time.Time
	freed   time.Time // when a resync last returned free memory to the system (applyCurrent)
	observe func(what string, took time.Duration)
	link    func(name string) error

	mu    sync.Mutex // guards state: the pointer only, as a state is never changed once current
	state *store.State
	// stateErr is why the stored state could not be read (store.ErrCorrupt), nil when it was;
	// guarded by mu. While it is set the agent applies nothing (see New).
	stateErr error
	// recoverMu serialises the puts of a whole state that replace an unreadable one.
	recoverMu sync.Mutex

	qmu        sync.Mutex // guards the following fields
	queue      []*write   // writes waiting for the next commit
	committing bool       // a goroutine is committing the queue

	applyMu sync.Mutex // serialises Reconciler.Apply calls

	handlerOnce sync.Once
	mux         http.Handler
}

// RecoverHint says how to recover from an unreadable state without a flush; the error of every
// refused request and the status carry it.
const RecoverHint = "the agent keeps the IPVS table and addresses as they are, runs no VRRP and refuses changes until its state is replaced. " +
	"To recover without a flush, copy the configuration from the other director: there, `lvs-agent state export > state.json`; " +
	"here, `lvs-agent state import --from-peer state.json` (it replaces the state, keeps the unreadable files as *.corrupt-TIME " +
	"and re-applies: what the kernel already matches is not touched)"

// New loads the stored state and returns a server ready to Run. A state or journal that cannot
// be read (store.ErrCorrupt) does not stop the agent: it starts without applying anything, so
// the kernel keeps what it holds and traffic keeps flowing, and it runs no VRRP, which with a
// wrong configuration would fight the peer. The status shows the error, writes are refused with
// agentapi.CodeStateCorrupt, and a whole state put at agentapi.PathState replaces it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	if cfg.Reconciler == nil {
		cfg.Reconciler = reconcile.Nop{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := cfg.Store.Load()
	var stateErr error
	if errors.Is(err, store.ErrCorrupt) {
		cfg.Logger.Error("stored state unreadable; serving the kernel as it is", "err", err, "recover", RecoverHint)
		st, stateErr, err = &store.State{}, err, nil
	}
	if err != nil {
		return nil, err
	}
	return &Server{store: cfg.Store, rec: cfg.Reconciler, ipvs: cfg.IPVS, log: cfg.Logger, resync: cfg.Resync, started: time.Now(), state: st, stateErr: stateErr, observe: cfg.Observe, link: cfg.CheckLink}, nil
}

// Run listens on socketPath (0600 in a 0700 directory), re-applies the stored state and serves until
// ctx is done.
func (s *Server) Run(ctx context.Context, socketPath string) error {
	if err := os.MkdirAll(filepath.Dir(socketPath), 0o700); err != nil {
		return fmt.Errorf("create socket dir: %w", err)
	}
	// The agent's own run directory is narrowed to root even when something else made it; a
	// directory given with --socket (/run for /run/x.sock) is not the agent's to change.
	if filepath.Dir(socketPath) == agentapi.RunDir {
		if err := os.Chmod(agentapi.RunDir, 0o700); err != nil {
			return fmt.Errorf("restrict socket dir: %w", err)
		}
	}
	_ = os.Remove(socketPath) // a stale socket from a killed run
	ln, err := net.Listen("unix", socketPath)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", socketPath, err)
	}
	if err := os.Chmod(socketPath, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("restrict socket: %w", err)
	}
	s.applyCurrent(ctx, "start")

	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("agent serving", "socket", socketPath, "version", version.Version)

	var tick <-chan time.Time
	if s.resync > 0 {
		t := time.NewTicker(s.resync)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := hs.Shutdown(sctx)
			if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
				s.log.Warn("server ended", "err", serr)
			}
			_ = os.Remove(socketPath)
			if st, ok := s.rec.(reconcile.Stopper); ok {
				s.applyMu.Lock()
				if serr := st.Stop(sctx); serr != nil {
					s.log.Error("graceful stop failed", "err", serr)
				}
				s.applyMu.Unlock()
			}
			return err
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-tick:
			s.applyCurrent(ctx, "resync")
		}
	}
}

// applyCurrent applies the current state. It reads the state under applyMu: read before, a
// commit could publish and apply a newer one in between, and this older one would then undo
// an acknowledged write in the kernel until the next resync.
func (s *Server) applyCurrent(ctx context.Context, why string) {
	if s.corrupt() != nil {
		return // nothing to apply: the kernel keeps what it has
	}
	s.applyMu.Lock()
	start := time.Now()
	err := s.rec.Apply(ctx, s.view(), reconcile.Resync)
	if s.observe != nil {
		s.observe(why, time.Since(start))
	}
	s.applyMu.Unlock()
	if err != nil {
		s.log.Error("apply failed", "why", why, "err", err)
	}
	// Resyncs (and reads of the kernel's table) leave garbage in proportion to the table: at
	// 10,000 destinations the idle heap kept about three times its live size (RSS 30 MB against
	// 17 MB returned). The agent idles between resyncs, so it returns that memory, at most every
	// freeEvery: a full collection at each 5 s resync cost 0.6% of a CPU in the lab.
	if now := time.Now(); now.Sub(s.freed) >= freeEvery {
		s.freed = now
		debug.FreeOSMemory()
	}
}

// freeEvery bounds how often a resync returns the agent's free memory to the system.
const freeEvery = 15 * time.Second

func (s *Server) apply(ctx context.Context, st *store.State, why reconcile.Trigger) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.rec.Apply(ctx, st, why)
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler() }

// handler builds the API's handler once; batches serve their requests through it.
func (s *Server) handler() http.Handler {
	s.handlerOnce.Do(func() { s.mux = s.newHandler() })
	return s.mux
}

func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+agentapi.PathVersion, s.getVersion)
	mux.Handle("GET "+agentapi.PathStatus, s.versioned(s.getStatus))
	mux.Handle("GET "+agentapi.PathPair, s.stateful(s.getPair))
	mux.Handle("PUT "+agentapi.PathPair, s.stateful(s.putPair))
	mux.Handle("DELETE "+agentapi.PathPair, s.stateful(s.deletePair))
	mux.Handle("GET "+agentapi.PathVIPs, s.stateful(s.listVIPs))
	mux.Handle("GET "+agentapi.PathVIPs+"/{vrid}", s.stateful(s.getVIP))
	mux.Handle("PUT "+agentapi.PathVIPs+"/{vrid}", s.stateful(s.putVIP))
	mux.Handle("DELETE "+agentapi.PathVIPs+"/{vrid}", s.stateful(s.deleteVIP))
	mux.Handle("GET "+agentapi.PathState, s.stateful(s.getState))
	mux.Handle("PUT "+agentapi.PathState, s.versioned(s.putState))
	mux.Handle("POST "+agentapi.PathBatch, s.versioned(s.batch))
	s.registerIPVS(mux)
	mux.Handle("/", s.versioned(func(w http.ResponseWriter, r *http.Request) error {
		return agentapi.NotFound(fmt.Sprintf("no API path %s %s", r.Method, r.URL.Path))
	}))
	return mux
}

// Info returns this agent's identity.
func Info() agentapi.VersionInfo {
	return agentapi.VersionInfo{Version: version.Version, APIVersion: agentapi.APIVersion, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		BinarySHA256: binarySHA256()}
}

// binarySHA256 is the checksum of the running binary, computed once: /proc/self/exe is the file
// this process runs even after an upgrade renamed a new binary over its path.
var binarySHA256 = sync.OnceValue(func() string {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
})

type handlerFunc func(http.ResponseWriter, *http.Request) error

// versioned rejects clients of another API major and turns returned errors into typed answers.
func (s *Server) versioned(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := checkVersion(r.Header.Get(agentapi.HeaderAPIVersion))
		if err == nil {
			err = checkClientVersion(r.Header.Get(agentapi.HeaderClientVersion))
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// stateful is versioned for the paths that read or write the stored state: while it cannot be
// read they answer agentapi.CodeStateCorrupt. Reads are refused too, so that a plan does not
// take the empty state for a host that lost its configuration and plan to create it anew.
func (s *Server) stateful(h handlerFunc) http.Handler {
	return s.versioned(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.corrupt(); err != nil {
			return corruptError(err)
		}
		return h(w, r)
	})
}

// corrupt returns why the stored state cannot be read, nil when it can.
func (s *Server) corrupt() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateErr
}

func corruptError(err error) *agentapi.Error {
	return &agentapi.Error{Code: agentapi.CodeStateCorrupt, Message: fmt.Sprintf("%v; %s", err, RecoverHint)}
}

func checkVersion(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n != agentapi.APIVersion {
		return &agentapi.Error{Code: agentapi.CodeVersionSkew, Message: fmt.Sprintf(
			"client speaks API version %q, this agent (%s) speaks %d; let the provider upgrade the agent", v, version.Version, agentapi.APIVersion)}
	}
	return nil
}

// checkClientVersion refuses a provider outside the compatibility window (version.Compatible).
// A request without the header (an older provider, this binary's own CLI) passes: APIVersion
// has vouched for the wire format.
func checkClientVersion(v string) error {
	if v == "" {
		return nil
	}
	if err := version.Compatible(v, version.Version); err != nil {
		return &agentapi.Error{Code: agentapi.CodeVersionSkew, Message: err.Error() +
			"; use a provider within one minor version of this agent, or let a provider within one minor version of both upgrade it first"}
	}
	return nil
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *agentapi.Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNewer):
		// Not the request's fault, nor a bug: a newer agent's state, which this one keeps.
		ae = &agentapi.Error{Code: agentapi.CodeVersionSkew, Message: err.Error()}
	default:
		ae = &agentapi.Error{Code: agentapi.CodeInternal, Message: err.Error()}
	}
	if ae.Code == agentapi.CodeInternal {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, ae.HTTPStatus(), ae)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: an unknown field means a newer client, which must not be
// silently half-understood.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, agentapi.MaxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &agentapi.Error{Code: agentapi.CodeValidation, Message: fmt.Sprintf(
				"request body is larger than %d bytes, the most this agent reads (a whole state of 10,000 real servers takes about 7 MB)", tooBig.Limit)}
		}
		return &agentapi.Error{Code: agentapi.CodeValidation, Message: fmt.Sprintf("request body: %v", err)}
	}
	return nil
}

func (s *Server) getVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Info())
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	keep, err := destFilter(r.URL.Query()[agentapi.QueryIPVSDest])
	if err != nil {
		return err
	}
	st := s.view()
	out := agentapi.Status{Version: Info(), StartedAt: s.started.UTC().Format(time.RFC3339), Serial: st.Serial, Pair: st.Pair}
	if r, ok := s.rec.(reconcile.StatusReporter); ok {
		r.Report(&out)
	}
	if err := s.corrupt(); err != nil {
		out.StateError = corruptError(err).Message
	}
	out.Panics = guard.Report()
	if keep != nil {
		out.IPVS = keep.apply(out.IPVS)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getPair(w http.ResponseWriter, _ *http.Request) error {
	p := s.view().Pair
	if p == nil {
		return agentapi.NotFound("this agent holds no director pair")
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// putPair stores the pair. A host holds one pair: a write of a pair with another UUID is
// refused (CodeExists for a create, with HeaderIfNoneMatch "*", CodeConflict otherwise) and
// changes nothing, so that a second workspace or a wrong address never takes over a host.
func (s *Server) putPair(w http.ResponseWriter, r *http.Request) error {
	var p agentapi.Pair
	if err := decode(r, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	createOnly := r.Header.Get(agentapi.HeaderIfNoneMatch) == "*"
	now := time.Now().UTC().Format(time.RFC3339)
	st, err := s.commit(gateOf(w), func(st *store.State) error {
		if err := checkOwner(st.Pair, &p, createOnly); err != nil {
			return err
		}
		keepCreation(st.Pair, &p, now)
		st.Pair = &p
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st.Pair)
	return nil
}

// checkOwner refuses to write next over another pair the host holds.
func checkOwner(held, next *agentapi.Pair, createOnly bool) error {
	if !agentapi.OwnerClash(held, next, createOnly) {
		return nil
	}
	code := agentapi.CodeConflict
	if createOnly {
		code = agentapi.CodeExists
	}
	return &agentapi.Error{Code: code, Field: "name", Message: fmt.Sprintf("this host is held by %s; nothing was changed", held.Describe())}
}

// keepCreation carries the creation record of the pair next replaces, and dates a new one.
func keepCreation(held, next *agentapi.Pair, now string) {
	if held != nil && held.Name == next.Name && (held.UUID == next.UUID || held.UUID == "") {
		if held.CreatedAt != "" {
			next.CreatedAt = held.CreatedAt
		}
		if held.CreatedBy != "" {
			next.CreatedBy = held.CreatedBy
		}
	}
	if next.CreatedAt == "" && next.UUID != "" {
		next.CreatedAt = now
	}
}

// deletePair removes the pair and everything configured under it (VIPs, virtual servers); the
// real-server bindings stay, as they belong to real servers of whatever pair, not to this one.
// With HeaderPairUUID it deletes only the pair with that UUID (or a legacy pair without one).
func (s *Server) deletePair(w http.ResponseWriter, r *http.Request) error {
	uuid := r.Header.Get(agentapi.HeaderPairUUID)
	_, err := s.commit(gateOf(w), func(st *store.State) error {
		if st.Pair == nil {
			return agentapi.NotFound("this agent holds no director pair")
		}
		if uuid != "" && st.Pair.UUID != "" && st.Pair.UUID != uuid {
			return &agentapi.Error{Code: agentapi.CodeConflict, Field: "pair_uuid", Message: fmt.Sprintf(
				"this host is held by %s, not by the pair with pair_uuid %s; nothing was deleted", st.Pair.Describe(), uuid)}
		}
		*st = store.State{Serial: st.Serial, RealServerBindings: st.RealServerBindings}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func vridOf(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("vrid"))
	if err != nil || n < 1 || n > 255 {
		return 0, agentapi.Invalid("virtual_router_id", fmt.Sprintf("%q in the path is not 1-255", r.PathValue("vrid")))
	}
	return n, nil
}

func (s *Server) listVIPs(w http.ResponseWriter, _ *http.Request) error {
	st := s.view()
	out := []*agentapi.VIP{}
	for vrid := 1; vrid <= 255; vrid++ {
		if v, ok := st.VIPs[vrid]; ok {
			out = append(out, v)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getVIP(w http.ResponseWriter, r *http.Request) error {
	vrid, err := vridOf(r)
	if err != nil {
		return err
	}
	v := s.view().VIPs[vrid]
	if v == nil {
		return agentapi.NotFound(fmt.Sprintf("no VIP with virtual_router_id %d", vrid))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) putVIP(w http.ResponseWriter, r *http.Request) error {
	vrid, err := vridOf(r)
	if err != nil {
		return err
	}
	var v agentapi.VIP
	if err := decode(r, &v); err != nil {
		return err
	}
	if v.VRID != vrid {
		return agentapi.Invalid("virtual_router_id", fmt.Sprintf("body says %d, path says %d", v.VRID, vrid))
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if v.Interface != "" && s.link != nil {
		if err := s.link(v.Interface); err != nil {
			return agentapi.Invalid("interface", fmt.Sprintf(
				"VIP %d: interface %s is not on this director (%v); nothing was changed: create the link first, or name one the director has", vrid, v.Interface, err))
		}
	}
	createOnly := r.Header.Get(agentapi.HeaderIfNoneMatch) == "*"
	st, err := s.commit(gateOf(w), func(st *store.State) error {
		if st.Pair == nil {
			return &agentapi.Error{Code: agentapi.CodeConflict, Message: "this agent holds no director pair; create the lvs_director_pair first"}
		}
		if old := st.VIPs[vrid]; createOnly && old != nil {
			return &agentapi.Error{Code: agentapi.CodeExists, Field: "virtual_router_id", Message: fmt.Sprintf(
				"%s already has a VIP with virtual_router_id %d (addresses %s); nothing was changed", st.Pair.Describe(), vrid, strings.Join(old.Addresses, ", "))}
		}
		if st.VIPs == nil {
			st.VIPs = map[int]*agentapi.VIP{}
		}
		st.VIPs[vrid] = &v
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st.VIPs[vrid])
	return nil
}

func (s *Server) deleteVIP(w http.ResponseWriter, r *http.Request) error {
	vrid, err := vridOf(r)
	if err != nil {
		return err
	}
	_, err = s.commit(gateOf(w), func(st *store.State) error {
		if st.VIPs[vrid] == nil {
			return agentapi.NotFound(fmt.Sprintf("no VIP with virtual_router_id %d", vrid))
		}
		delete(st.VIPs, vrid)
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getState(w http.ResponseWriter, _ *http.Request) error {
	st := s.view()
	writeJSON(w, http.StatusOK, st)
	return nil
}

// putState replaces the whole desired state; the provider uses it to move a pair's configuration
// to a replacement director.
func (s *Server) putState(w http.ResponseWriter, r *http.Request) error {
	var in store.State
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Pair != nil {
		if err := in.Pair.Validate(); err != nil {
			return err
		}
	}
	for vrid, v := range in.VIPs {
		if v == nil || v.VRID != vrid {
			return agentapi.Invalid("vips", fmt.Sprintf("entry %d does not hold VIP %d", vrid, vrid))
		}
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if err := validateIPVSState(&in); err != nil {
		return err
	}
	if done, err := s.replaceCorrupt(w, &in); done || err != nil {
		return err
	}
	st, err := s.commit(gateOf(w), func(st *store.State) error {
		if in.Pair != nil {
			if err := checkOwner(st.Pair, in.Pair, false); err != nil {
				return err
			}
			keepCreation(st.Pair, in.Pair, time.Now().UTC().Format(time.RFC3339))
		}
		serial := st.Serial
		*st = in
		st.Serial = serial
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// replaceCorrupt makes in the state of an agent whose stored state cannot be read, and applies
// it; it reports false when the state can be read (putState then commits as usual).
func (s *Server) replaceCorrupt(w http.ResponseWriter, in *store.State) (bool, error) {
	s.recoverMu.Lock()
	defer s.recoverMu.Unlock()
	if s.corrupt() == nil {
		return false, nil
	}
	next := *in
	next.Serial = in.Serial + 1
	if err := s.store.Replace(&next, time.Now()); err != nil {
		return true, err
	}
	s.mu.Lock()
	s.state, s.stateErr = &next, nil
	s.mu.Unlock()
	s.log.Info("stored state replaced; applying it", "serial", next.Serial)
	if err := s.apply(context.Background(), &next, reconcile.Change); err != nil {
		return true, fmt.Errorf("stored, but applying it failed (the agent retries): %w", err)
	}
	writeJSON(w, http.StatusOK, &next)
	return true, nil
}
