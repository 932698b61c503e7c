package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// ipvsPart is a reconciler part that reports IPVS, as agent/ipvs does.
type ipvsPart struct{ countingReconciler }

func (*ipvsPart) IPVSReport() *agentapi.IPVSReport {
	return &agentapi.IPVSReport{Services: []agentapi.IPVSService{{Key: "tcp/198.51.100.100:80", Managed: true}}, Repairs: 3}
}

func startIPVS(t *testing.T) (*agentclient.Client, *ipvsPart) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "agent.sock")
	part := &ipvsPart{}
	srv, err := server.New(server.Config{Store: store.New(filepath.Join(dir, "state.json")), Reconciler: reconcile.Multi{&countingReconciler{}, part}, IPVS: part})
	if err != nil {
		t.Fatal(err)
	}
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
	return c, part
}

func wantErr(t *testing.T, err error, code *agentapi.Error, field string) {
	t.Helper()
	var e *agentapi.Error
	if !errors.Is(err, code) || !errors.As(err, &e) || e.Field != field {
		t.Fatalf("err = %v, want %s on field %q", err, code.Code, field)
	}
}

func TestIPVSObjects(t *testing.T) {
	c, part := startIPVS(t)
	ctx := context.Background()
	vs := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: "2001:db8::100", Port: 80, Scheduler: "wrr", ForwardingMethod: "dr"}
	_, err := c.PutVirtualServer(ctx, vs)
	wantErr(t, err, agentapi.ErrConflict, "") // no pair yet
	if _, err := c.PutPair(ctx, &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutVIP(ctx, &agentapi.VIP{VRID: 91, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutVirtualServer(ctx, vs)
	wantErr(t, err, agentapi.ErrConflict, "address") // not an address of VIP 91
	vs.Address = "198.51.100.100"
	key := "tcp/198.51.100.100:80"
	bad := *vs
	bad.Scheduler = "fastest"
	_, err = c.PutVirtualServer(ctx, &bad)
	wantErr(t, err, agentapi.ErrValidation, "scheduler")
	if _, err := c.PutVirtualServer(ctx, vs); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRealServer(ctx, key, "198.51.100.21:80")
	wantErr(t, err, agentapi.ErrNotFound, "")
	for _, a := range []string{"198.51.100.21", "198.51.100.22"} {
		if _, err := c.PutRealServer(ctx, key, &agentapi.RealServer{Address: a, Port: 80, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.PutRealServer(ctx, key, &agentapi.RealServer{Address: "198.51.100.23", Port: 80, Weight: 70000})
	wantErr(t, err, agentapi.ErrValidation, "weight")
	_, err = c.PutRealServer(ctx, key, &agentapi.RealServer{Address: "198.51.100.23", Port: 8080, Weight: 1})
	wantErr(t, err, agentapi.ErrValidation, "port") // dr keeps the port

	// A PUT of the virtual server without real servers keeps them.
	vs.Scheduler = "rr"
	if _, err := c.PutVirtualServer(ctx, vs); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetVirtualServer(ctx, key)
	if err != nil || got.Scheduler != "rr" || len(got.RealServers) != 2 {
		t.Fatalf("GetVirtualServer = %+v, %v", got, err)
	}
	// Switching to nat is fine; back to dr with a mapped port is not.
	if _, err := c.PutRealServer(ctx, key, &agentapi.RealServer{Address: "198.51.100.23", Port: 8080, Weight: 1, ForwardingMethod: "nat"}); err != nil {
		t.Fatal(err)
	}
	// A create-only write changes nothing when the real server exists.
	_, err = c.CreateRealServer(ctx, key, &agentapi.RealServer{Address: "198.51.100.23", Port: 8080, Weight: 9, ForwardingMethod: "nat"})
	wantErr(t, err, agentapi.ErrExists, "address")
	if rs, err := c.GetRealServer(ctx, key, "198.51.100.23:8080"); err != nil || rs.Weight != 1 {
		t.Fatalf("after a refused create: %+v, %v", rs, err)
	}
	if err := c.DeleteRealServer(ctx, key, "198.51.100.23:8080"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.DeleteRealServer(ctx, key, "198.51.100.23:8080"), agentapi.ErrNotFound, "")
	if rs, err := c.CreateRealServer(ctx, key, &agentapi.RealServer{Address: "198.51.100.23", Port: 8080, Weight: 9, ForwardingMethod: "nat"}); err != nil || rs.Weight != 9 {
		t.Fatalf("CreateRealServer = %+v, %v", rs, err)
	}
	if err := c.DeleteRealServer(ctx, key, "198.51.100.23:8080"); err != nil {
		t.Fatal(err)
	}

	// Fwmark and IPv6 keys travel through the path.
	fw := &agentapi.VirtualServer{VRID: 91, FWMark: 7, Family: "inet6", Scheduler: "sh", SchedulerFlags: []string{"sh-port"}}
	if _, err := c.PutVirtualServer(ctx, fw); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRealServer(ctx, "fwmark/inet6/7", &agentapi.RealServer{Address: "2001:db8::21", Port: 0, Weight: 5}); err != nil {
		t.Fatal(err)
	}
	if rs, err := c.GetRealServer(ctx, "fwmark/inet6/7", "[2001:db8::21]:0"); err != nil || rs.Weight != 5 {
		t.Fatalf("GetRealServer = %+v, %v", rs, err)
	}
	list, err := c.ListVirtualServers(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListVirtualServers = %d, %v", len(list), err)
	}
	part.mu.Lock()
	last := part.last
	part.mu.Unlock()
	if last == nil || len(last.VirtualServers) != 2 || len(last.VirtualServers[key].RealServers) != 2 {
		t.Errorf("the reconciler did not get the state: %+v", last)
	}
	if err := c.DeleteVirtualServer(ctx, "fwmark/inet6/7"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.DeleteVirtualServer(ctx, "fwmark/inet6/7"), agentapi.ErrNotFound, "")

	rep, err := c.IPVS(ctx)
	if err != nil || rep.Repairs != 3 || len(rep.Services) != 1 {
		t.Errorf("IPVS report %+v, %v", rep, err)
	}
}

func TestBindings(t *testing.T) {
	c, _ := startIPVS(t)
	ctx := context.Background()
	id := "edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80/198.51.100.21:80"
	// No pair needed on a real server.
	if _, err := c.PutBinding(ctx, id, &agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "dr"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutBinding(ctx, "x", &agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "nat"})
	wantErr(t, err, agentapi.ErrValidation, "forwarding_method")
	b, err := c.GetBinding(ctx, id)
	if err != nil || b.VIP != "198.51.100.100" {
		t.Fatalf("GetBinding = %+v, %v", b, err)
	}
	all, err := c.ListBindings(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("ListBindings = %v, %v", all, err)
	}
	if err := c.DeleteBinding(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.DeleteBinding(ctx, id), agentapi.ErrNotFound, "")
}
