package ipvs

import (
	"context"
	"fmt"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// BenchmarkApplyChangeAt1000 is the reconciler's cost of one committed change (one more real
// server) when the virtual server already has 1,000: what each write costs the agent late in a
// `terraform apply` of 1,000 real servers, kernel calls aside (a fake kernel).
func BenchmarkApplyChangeAt1000(b *testing.B) {
	e := newEnv(b, nil)
	st := testState()
	rss := st.VirtualServers[vsKey].RealServers
	for i := range 1000 {
		a := fmt.Sprintf("198.51.%d.%d", 101+i/250, i%250)
		rss[a+":80"] = &agentapi.RealServer{Address: a, Port: 80, Weight: 1}
	}
	ctx := context.Background()
	if err := e.r.Apply(ctx, st, reconcile.Change); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		rss["198.51.100.21:80"] = &agentapi.RealServer{Address: "198.51.100.21", Port: 80, Weight: 1 + i%2}
		if err := e.r.Apply(ctx, st, reconcile.Change); err != nil {
			b.Fatal(err)
		}
	}
}
