package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// BenchmarkCreateRealServers measures the agent's own cost of what `terraform apply` of 1,000
// real servers asks of it: 1,000 create-only writes, 8 at a time as the provider sends them,
// each stored (fsync) and handed to a reconciler that does nothing. Run with
//
//	go test -run '^$' -bench CreateRealServers -benchtime 3x -cpuprofile /tmp/cpu.out ./agent/server/
func BenchmarkCreateRealServers(b *testing.B) {
	const n, streams = 1000, 8
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		sock := filepath.Join(dir, "agent.sock")
		srv, err := server.New(server.Config{Store: store.New(filepath.Join(dir, "state.json"))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx, sock) }()
		for range 200 {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		c := agentclient.New("bench", agentclient.Unix(sock))
		bg := context.Background()
		if _, err := c.PutPair(bg, &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}); err != nil {
			b.Fatal(err)
		}
		key := "tcp/[2001:db8::100]:80"
		if _, err := c.PutVirtualServer(bg, &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: "2001:db8::100", Port: 80, Scheduler: "wrr", ForwardingMethod: "dr"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= n; i = next.Add(1) {
					rs := &agentapi.RealServer{Address: fmt.Sprintf("2001:db8::1:%x", i), Port: 80, Weight: 1 + int(i)%3}
					if _, err := c.CreateRealServer(bg, key, rs); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		c.Close()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/create")
}
