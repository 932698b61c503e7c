package server

import (
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"unicode"

	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// IPVSReporter is the reconciler part that programs IPVS (Config.IPVS); the server serves its
// report at agentapi.PathIPVS.
type IPVSReporter interface {
	IPVSReport() *agentapi.IPVSReport
}

// registerIPVS adds the paths of virtual servers, their real servers, real-server bindings and
// the IPVS report.
func (s *Server) registerIPVS(mux *http.ServeMux) {
	vs := agentapi.PathVirtualServers
	mux.Handle("GET "+vs, s.stateful(s.listVirtualServers))
	mux.Handle("GET "+vs+"/{key}", s.stateful(s.getVirtualServer))
	mux.Handle("PUT "+vs+"/{key}", s.stateful(s.putVirtualServer))
	mux.Handle("DELETE "+vs+"/{key}", s.stateful(s.deleteVirtualServer))
	mux.Handle("GET "+vs+"/{key}/real-servers", s.stateful(s.listRealServers))
	mux.Handle("GET "+vs+"/{key}/real-servers/{rskey}", s.stateful(s.getRealServer))
	mux.Handle("PUT "+vs+"/{key}/real-servers/{rskey}", s.stateful(s.putRealServer))
	mux.Handle("DELETE "+vs+"/{key}/real-servers/{rskey}", s.stateful(s.deleteRealServer))
	b := agentapi.PathRealServerBindings
	mux.Handle("GET "+b, s.stateful(s.listBindings))
	mux.Handle("GET "+b+"/{id}", s.stateful(s.getBinding))
	mux.Handle("PUT "+b+"/{id}", s.stateful(s.putBinding))
	mux.Handle("DELETE "+b+"/{id}", s.stateful(s.deleteBinding))
	mux.Handle("GET "+agentapi.PathIPVS, s.versioned(s.getIPVS))
}

// vsKeyOf returns the canonical virtual server key of the path. ServeMux has already
// unescaped it (the client escapes the slashes in it).
func vsKeyOf(r *http.Request) (string, error) {
	k, err := agentapi.CanonicalVirtualServerKey(r.PathValue("key"))
	if err != nil {
		return "", agentapi.Invalid("virtual_server_id", err.Error())
	}
	return k, nil
}

func rsKeyOf(r *http.Request) (string, error) {
	k, err := agentapi.CanonicalRealServerKey(r.PathValue("rskey"))
	if err != nil {
		return "", agentapi.Invalid("real_server_id", err.Error())
	}
	return k, nil
}

func conflict(field, msg string) error {
	return &agentapi.Error{Code: agentapi.CodeConflict, Field: field, Message: msg}
}

func noVirtualServer(key string) error {
	return agentapi.NotFound(fmt.Sprintf("no virtual server %s", key))
}

func (s *Server) listVirtualServers(w http.ResponseWriter, _ *http.Request) error {
	st := s.view()
	keys := make([]string, 0, len(st.VirtualServers))
	for k := range st.VirtualServers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*agentapi.VirtualServer, 0, len(keys))
	for _, k := range keys {
		out = append(out, st.VirtualServers[k])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getVirtualServer(w http.ResponseWriter, r *http.Request) error {
	key, err := vsKeyOf(r)
	if err != nil {
		return err
	}
	vs := s.view().VirtualServers[key]
	if vs == nil {
		return noVirtualServer(key)
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

// identityField names the first identity attribute in which two virtual servers differ.
func identityField(a, b *agentapi.VirtualServer) string {
	switch {
	case a.FWMark != b.FWMark:
		return "fwmark"
	case a.Protocol != b.Protocol:
		return "protocol"
	case a.Port != b.Port:
		return "port"
	case a.FWMark != 0:
		return "family"
	}
	return "address"
}

// putVirtualServer stores a virtual server's settings. A body without real_servers keeps the
// real servers it has (they are separate resources, each with its own path); a body with them
// replaces them.
func (s *Server) putVirtualServer(w http.ResponseWriter, r *http.Request) error {
	key, err := vsKeyOf(r)
	if err != nil {
		return err
	}
	var vs agentapi.VirtualServer
	if err := decode(r, &vs); err != nil {
		return err
	}
	if got := agentapi.VirtualServerKey(&vs); got != key {
		path, _ := agentapi.ParseVirtualServerKey(key)
		return agentapi.Invalid(identityField(&vs, path), fmt.Sprintf("the body is virtual server %s, the path says %s", got, key))
	}
	createOnly := r.Header.Get(agentapi.HeaderIfNoneMatch) == "*"
	st, err := s.commit(gateOf(w), func(st *store.State) error {
		if st.Pair == nil {
			return conflict("", "this agent holds no director pair; create the lvs_director_pair first")
		}
		if createOnly && st.VirtualServers[key] != nil {
			return &agentapi.Error{Code: agentapi.CodeExists, Field: "address", Message: fmt.Sprintf(
				"%s already has virtual server %s; nothing was changed", st.Pair.Describe(), key)}
		}
		if old := st.VirtualServers[key]; old != nil && vs.RealServers == nil {
			vs.RealServers = old.RealServers
		}
		if err := vs.Validate(); err != nil {
			return err
		}
		if v := st.VIPs[vs.VRID]; v != nil && !vs.IsFWMark() && !vipHolds(v, vs.Address) {
			return conflict("address", fmt.Sprintf("%s is not an address of the VIP with virtual_router_id %d (%s)", vs.Address, vs.VRID, strings.Join(v.Addresses, ", ")))
		}
		if st.VirtualServers == nil {
			st.VirtualServers = map[string]*agentapi.VirtualServer{}
		}
		st.VirtualServers[key] = &vs
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st.VirtualServers[key])
	return nil
}

func vipHolds(v *agentapi.VIP, addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, s := range v.Addresses {
		if p, err := agentapi.ParseVIPAddress(s); err == nil && p.Addr() == a {
			return true
		}
	}
	return false
}

func (s *Server) deleteVirtualServer(w http.ResponseWriter, r *http.Request) error {
	key, err := vsKeyOf(r)
	if err != nil {
		return err
	}
	_, err = s.commit(gateOf(w), func(st *store.State) error {
		if st.VirtualServers[key] == nil {
			return noVirtualServer(key)
		}
		delete(st.VirtualServers, key)
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listRealServers(w http.ResponseWriter, r *http.Request) error {
	key, err := vsKeyOf(r)
	if err != nil {
		return err
	}
	vs := s.view().VirtualServers[key]
	if vs == nil {
		return noVirtualServer(key)
	}
	keys := make([]string, 0, len(vs.RealServers))
	for k := range vs.RealServers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*agentapi.RealServer, 0, len(keys))
	for _, k := range keys {
		out = append(out, vs.RealServers[k])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getRealServer(w http.ResponseWriter, r *http.Request) error {
	key, err := vsKeyOf(r)
	if err != nil {
		return err
	}
	rskey, err := rsKeyOf(r)
	if err != nil {
		return err
	}
	vs := s.view().VirtualServers[key]
	if vs == nil {
		return noVirtualServer(key)
	}
	rs := vs.RealServers[rskey]
	if rs == nil {
		return agentapi.NotFound(fmt.Sprintf("virtual server %s has no real server %s", key, rskey))
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

func (s *Server) putRealServer(w http.ResponseWriter, r *http.Request) error {
	key, err := vsKeyOf(r)
	if err != nil {
		return err
	}
	rskey, err := rsKeyOf(r)
	if err != nil {
		return err
	}
	var rs agentapi.RealServer
	if err := decode(r, &rs); err != nil {
		return err
	}
	if got := agentapi.RealServerKey(&rs); got != rskey {
		field := "address"
		if ap, err := agentapi.ParseRealServerKey(rskey); err == nil && int(ap.Port()) != rs.Port {
			field = "port"
		}
		return agentapi.Invalid(field, fmt.Sprintf("the body is real server %s, the path says %s", got, rskey))
	}
	createOnly := r.Header.Get(agentapi.HeaderIfNoneMatch) == "*"
	st, err := s.commit(gateOf(w), func(st *store.State) error {
		vs := st.VirtualServers[key]
		if vs == nil {
			return noVirtualServer(key)
		}
		if createOnly && vs.RealServers[rskey] != nil {
			return &agentapi.Error{Code: agentapi.CodeExists, Field: "address", Message: fmt.Sprintf("virtual server %s already holds real server %s", key, rskey)}
		}
		if ss := vs.SorryServer; ss != nil && agentapi.RealServerKey(&agentapi.RealServer{Address: ss.Address, Port: ss.Port}) == rskey {
			return conflict("address", fmt.Sprintf("%s is the sorry server of %s", rskey, key))
		}
		if err := vs.ValidateRealServer(&rs); err != nil {
			return err
		}
		vs = ownRealServers(st, key)
		if vs.RealServers == nil {
			vs.RealServers = map[string]*agentapi.RealServer{}
		}
		vs.RealServers[rskey] = &rs
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st.VirtualServers[key].RealServers[rskey])
	return nil
}

func (s *Server) deleteRealServer(w http.ResponseWriter, r *http.Request) error {
	key, err := vsKeyOf(r)
	if err != nil {
		return err
	}
	rskey, err := rsKeyOf(r)
	if err != nil {
		return err
	}
	_, err = s.commit(gateOf(w), func(st *store.State) error {
		vs := st.VirtualServers[key]
		if vs == nil {
			return noVirtualServer(key)
		}
		if vs.RealServers[rskey] == nil {
			return agentapi.NotFound(fmt.Sprintf("virtual server %s has no real server %s", key, rskey))
		}
		delete(ownRealServers(st, key).RealServers, rskey)
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// bindingID returns the binding id of the path: any printable text (the provider uses the real
// server resource's id).
func bindingID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 512 || strings.IndexFunc(id, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		return "", agentapi.Invalid("id", fmt.Sprintf("%q is not a binding id (printable, at most 512 bytes)", id))
	}
	return id, nil
}

func (s *Server) listBindings(w http.ResponseWriter, _ *http.Request) error {
	st := s.view()
	out := map[string]*agentapi.RealServerBinding{}
	for k, v := range st.RealServerBindings {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getBinding(w http.ResponseWriter, r *http.Request) error {
	id, err := bindingID(r)
	if err != nil {
		return err
	}
	b := s.view().RealServerBindings[id]
	if b == nil {
		return agentapi.NotFound(fmt.Sprintf("no real-server binding %q", id))
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// putBinding stores a real-server binding. It needs no director pair: real servers have none.
func (s *Server) putBinding(w http.ResponseWriter, r *http.Request) error {
	id, err := bindingID(r)
	if err != nil {
		return err
	}
	var b agentapi.RealServerBinding
	if err := decode(r, &b); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return err
	}
	createOnly := r.Header.Get(agentapi.HeaderIfNoneMatch) == "*"
	st, err := s.commit(gateOf(w), func(st *store.State) error {
		if old := st.RealServerBindings[id]; createOnly && old != nil {
			return &agentapi.Error{Code: agentapi.CodeExists, Field: "host", Message: fmt.Sprintf(
				"this host already has real-server binding %q (VIP %s); nothing was changed", id, old.VIP)}
		}
		if st.RealServerBindings == nil {
			st.RealServerBindings = map[string]*agentapi.RealServerBinding{}
		}
		st.RealServerBindings[id] = &b
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st.RealServerBindings[id])
	return nil
}

func (s *Server) deleteBinding(w http.ResponseWriter, r *http.Request) error {
	id, err := bindingID(r)
	if err != nil {
		return err
	}
	_, err = s.commit(gateOf(w), func(st *store.State) error {
		if st.RealServerBindings[id] == nil {
			return agentapi.NotFound(fmt.Sprintf("no real-server binding %q", id))
		}
		delete(st.RealServerBindings, id)
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getIPVS(w http.ResponseWriter, _ *http.Request) error {
	rep := &agentapi.IPVSReport{Services: []agentapi.IPVSService{}}
	if s.ipvs != nil {
		rep = s.ipvs.IPVSReport()
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// validateIPVSState checks the virtual servers and bindings of a whole state, as putState
// receives it (call it there next to the VIP checks).
func validateIPVSState(st *store.State) error {
	for key, vs := range st.VirtualServers {
		if vs == nil || agentapi.VirtualServerKey(vs) != key {
			return agentapi.Invalid("virtual_servers", fmt.Sprintf("entry %s does not hold virtual server %s", key, key))
		}
		if err := vs.Validate(); err != nil {
			return err
		}
	}
	for id, b := range st.RealServerBindings {
		if b == nil {
			return agentapi.Invalid("real_server_bindings", fmt.Sprintf("entry %q is empty", id))
		}
		if err := b.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// destSet is the destinations a status asks for (agentapi.QueryIPVSDest): real server keys by
// virtual server key, canonical.
type destSet map[string]map[string]bool

// destFilter parses the QueryIPVSDest values; nil when there are none (the whole table).
func destFilter(vals []string) (destSet, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	set := destSet{}
	for _, v := range vals {
		vs, rs, ok := strings.Cut(v, ",")
		if !ok {
			return nil, agentapi.Invalid(agentapi.QueryIPVSDest, fmt.Sprintf("%q is not \"VIRTUAL_SERVER_KEY,REAL_SERVER_KEY\", such as \"tcp/198.51.100.10:80,198.51.100.21:80\"", v))
		}
		vk, err := agentapi.CanonicalVirtualServerKey(vs)
		if err != nil {
			return nil, agentapi.Invalid(agentapi.QueryIPVSDest, fmt.Sprintf("%q: %v", v, err))
		}
		rk, err := agentapi.CanonicalRealServerKey(rs)
		if err != nil {
			return nil, agentapi.Invalid(agentapi.QueryIPVSDest, fmt.Sprintf("%q: %v", v, err))
		}
		if set[vk] == nil {
			set[vk] = map[string]bool{}
		}
		set[vk][rk] = true
	}
	return set, nil
}

// apply keeps the asked-for services, each with the asked-for destinations it has.
func (d destSet) apply(svcs []agentapi.IPVSService) []agentapi.IPVSService {
	var out []agentapi.IPVSService
	for _, s := range svcs {
		k, err := agentapi.CanonicalVirtualServerKey(s.Key)
		if err != nil || d[k] == nil {
			continue
		}
		dests := []agentapi.IPVSDestination{}
		for _, x := range s.Destinations {
			if rk, err := agentapi.CanonicalRealServerKey(x.Key); err == nil && d[k][rk] {
				dests = append(dests, x)
			}
		}
		s.Destinations = dests
		out = append(out, s)
	}
	return out
}
