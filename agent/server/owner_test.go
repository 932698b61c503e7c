package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

func ownedPair(name, uuid string) *agentapi.Pair {
	p := pair()
	p.Name, p.UUID, p.CreatedBy = name, uuid, "alice@ws1"
	return &p
}

const (
	uuidA = "0b8f3c1e-7a53-4b0e-9a8e-3c1f5e7d9a01"
	uuidB = "5d2e6f70-1c3b-4d8a-b9e2-7f6a5c4d3b02"
)

// mustState reads the agent's whole state.
func mustState(t *testing.T, c *agentclient.Client) *agentapi.State {
	t.Helper()
	st, err := c.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// unchanged fails the test when the agent's state differs from before (serial included: a
// refused write stores nothing).
func unchanged(t *testing.T, c *agentclient.Client, before *agentapi.State) {
	t.Helper()
	if after := mustState(t, c); !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed by a refused write:\nbefore %+v\nafter  %+v", before, after)
	}
}

// A host holds one pair: another pair (another UUID) can neither create, update, replace the
// state of nor delete it, and each refusal names the pair that holds the host.
func TestPairOwnership(t *testing.T) {
	c, _ := startIPVS(t)
	ctx := context.Background()
	got, err := c.CreatePair(ctx, ownedPair("edge", uuidA))
	if err != nil {
		t.Fatal(err)
	}
	if got.UUID != uuidA || got.CreatedBy != "alice@ws1" || got.CreatedAt == "" {
		t.Fatalf("created pair = %+v, want its uuid, creator and a creation time", got)
	}
	createdAt := got.CreatedAt
	if _, err := c.PutVIP(ctx, &agentapi.VIP{VRID: 7, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3}); err != nil {
		t.Fatal(err)
	}

	// A retried create of the same pair is not a clash.
	if _, err := c.CreatePair(ctx, ownedPair("edge", uuidA)); err != nil {
		t.Fatalf("create again with the same uuid: %v", err)
	}
	before := mustState(t, c)

	for _, name := range []string{"edge", "other"} {
		_, err = c.CreatePair(ctx, ownedPair(name, uuidB))
		wantErr(t, err, agentapi.ErrExists, "name")
		for _, want := range []string{`"edge"`, uuidA, "198.51.100.11", "198.51.100.12", "alice@ws1", "nothing was changed"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("create clash %q does not name %s", err, want)
			}
		}
		_, err = c.PutPair(ctx, ownedPair(name, uuidB))
		wantErr(t, err, agentapi.ErrConflict, "name")
		unchanged(t, c, before)
	}
	// A state for a replacement director does not take an owned host either.
	st := before.Clone()
	st.Pair = ownedPair("edge", uuidB)
	wantErr(t, c.PutState(ctx, st), agentapi.ErrConflict, "name")
	unchanged(t, c, before)
	// Nor does a delete of another pair.
	err = c.DeleteOwnPair(ctx, uuidB)
	wantErr(t, err, agentapi.ErrConflict, "pair_uuid")
	if !strings.Contains(err.Error(), uuidA) {
		t.Errorf("delete clash %q does not name the holder", err)
	}
	unchanged(t, c, before)

	// An update by the owner keeps the creation record, whoever applies it.
	up := ownedPair("edge", uuidA)
	up.CreatedBy, up.SyncConnections = "bob@ws2", false
	got, err = c.PutPair(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedBy != "alice@ws1" || got.CreatedAt != createdAt || got.SyncConnections {
		t.Fatalf("updated pair = %+v, want the update with the first creation record", got)
	}

	// The owner's delete removes the pair and its VIPs; bindings (real servers of any pair) stay.
	if _, err := c.PutBinding(ctx, "rs1", &agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "dr"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteOwnPair(ctx, uuidA); err != nil {
		t.Fatal(err)
	}
	st = mustState(t, c)
	if st.Pair != nil || len(st.VIPs) != 0 || len(st.RealServerBindings) != 1 {
		t.Fatalf("after deleting the pair: %+v, want no pair, no VIPs, the binding", st)
	}
	// Now the host is free for another pair.
	if _, err := c.CreatePair(ctx, ownedPair("other", uuidB)); err != nil {
		t.Fatal(err)
	}
}

// A pair stored before pairs had UUIDs (an old state file) loads, is adopted by an update with
// its name, and is never taken by a create or by another name.
func TestLegacyPairIsAdoptedByName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	old := `{"serial":3,"pair":{"name":"edge","directors":[{"host":"198.51.100.11","interface":"eth0"},{"host":"198.51.100.12","interface":"eth0"}],"self":0,"sync_connections":true,"vrrp_unicast":false},` +
		`"vips":{"7":{"vrid":7,"addresses":["198.51.100.100"],"priorities":[200,100],"advert_interval_cs":100,"version":3}}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: store.New(path)})
	if err != nil {
		t.Fatalf("old state file: %v", err)
	}
	sock := filepath.Join(dir, "run", "agent.sock")
	c := serve(t, srv, sock)
	ctx := context.Background()
	before := mustState(t, c)
	if before.Pair == nil || before.Pair.UUID != "" || len(before.VIPs) != 1 {
		t.Fatalf("old state loaded as %+v", before)
	}
	_, err = c.CreatePair(ctx, ownedPair("edge", uuidA))
	wantErr(t, err, agentapi.ErrExists, "name")
	if !strings.Contains(err.Error(), "no pair_uuid") {
		t.Errorf("legacy clash %q does not say the pair has no uuid", err)
	}
	_, err = c.PutPair(ctx, ownedPair("other", uuidA))
	wantErr(t, err, agentapi.ErrConflict, "name")
	unchanged(t, c, before)
	got, err := c.PutPair(ctx, ownedPair("edge", uuidA))
	if err != nil || got.UUID != uuidA {
		t.Fatalf("adopting the legacy pair: %+v, %v", got, err)
	}
	if st := mustState(t, c); len(st.VIPs) != 1 {
		t.Fatalf("adoption lost the VIPs: %+v", st)
	}
}

// Every object kind takes a create-only PUT: on an existing object it answers CodeExists,
// naming the object, and changes nothing.
func TestCreateOnlyEveryKind(t *testing.T) {
	c, _ := startIPVS(t)
	ctx := context.Background()
	if _, err := c.CreatePair(ctx, ownedPair("edge", uuidA)); err != nil {
		t.Fatal(err)
	}
	vip := &agentapi.VIP{VRID: 7, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3}
	if _, err := c.CreateVIP(ctx, vip); err != nil {
		t.Fatal(err)
	}
	vs := &agentapi.VirtualServer{VRID: 7, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr", ForwardingMethod: "dr"}
	if _, err := c.CreateVirtualServer(ctx, vs); err != nil {
		t.Fatal(err)
	}
	rs := &agentapi.RealServer{Address: "198.51.100.21", Port: 80, Weight: 1}
	if _, err := c.CreateRealServer(ctx, "tcp/198.51.100.100:80", rs); err != nil {
		t.Fatal(err)
	}
	b := &agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "dr"}
	if _, err := c.CreateBinding(ctx, "rs1", b); err != nil {
		t.Fatal(err)
	}
	before := mustState(t, c)

	vip2 := *vip
	vip2.Addresses = []string{"198.51.100.101"}
	_, err := c.CreateVIP(ctx, &vip2)
	wantErr(t, err, agentapi.ErrExists, "virtual_router_id")
	if !strings.Contains(err.Error(), "198.51.100.100") || !strings.Contains(err.Error(), uuidA) {
		t.Errorf("VIP clash %q does not name the VIP's addresses and pair", err)
	}
	vs2 := *vs
	vs2.Scheduler = "rr"
	_, err = c.CreateVirtualServer(ctx, &vs2)
	wantErr(t, err, agentapi.ErrExists, "address")
	if !strings.Contains(err.Error(), "tcp/198.51.100.100:80") {
		t.Errorf("virtual server clash %q does not name it", err)
	}
	rs2 := *rs
	rs2.Weight = 5
	_, err = c.CreateRealServer(ctx, "tcp/198.51.100.100:80", &rs2)
	wantErr(t, err, agentapi.ErrExists, "address")
	b2 := *b
	b2.VIP = "198.51.100.101"
	_, err = c.CreateBinding(ctx, "rs1", &b2)
	wantErr(t, err, agentapi.ErrExists, "host")
	if !strings.Contains(err.Error(), "rs1") {
		t.Errorf("binding clash %q does not name it", err)
	}
	unchanged(t, c, before)

	// Concurrent creates of one VRID (two lvs_vip resources with the same virtual_router_id,
	// applied in parallel): exactly one wins, the others change nothing.
	var (
		wg   sync.WaitGroup
		errs = make([]error, 8)
	)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &agentapi.VIP{VRID: 9, Addresses: []string{fmt.Sprintf("198.51.100.%d", 110+i)}, Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3}
			_, errs[i] = c.CreateVIP(ctx, v)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, agentapi.ErrExists):
			t.Errorf("concurrent create: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent creates of VRID 9 succeeded, want 1", won, len(errs))
	}
}

// serve runs srv on sock until the test ends and returns a client of it.
func serve(t *testing.T, srv *server.Server, sock string) *agentclient.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	for range 200 {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := agentclient.New("test", agentclient.Unix(sock))
	t.Cleanup(c.Close)
	return c
}
