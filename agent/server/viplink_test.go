package server_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// A VIP naming an interface the director lacks is refused whole, naming the VIP and the
// interface; nothing is stored or applied.
func TestVIPInterfaceMustExist(t *testing.T) {
	t.Parallel()
	h := startWith(t, "", func(c *server.Config) {
		c.CheckLink = func(name string) error {
			if name == "eth1" {
				return nil
			}
			return errors.New("no such network interface")
		}
	})
	if code, b := h.do(t, "PUT", agentapi.PathPair, pair(), v1); code != 200 {
		t.Fatalf("PUT pair = %d %s", code, b)
	}
	v := agentapi.VIP{VRID: 7, Addresses: []string{"198.51.100.200"}, Interface: "eth9", Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3}
	code, b := h.do(t, "PUT", fmt.Sprintf("%s/7", agentapi.PathVIPs), v, v1)
	e := decodeErr(t, b)
	if code != 422 || e.Field != "interface" || !strings.Contains(e.Message, "VIP 7") || !strings.Contains(e.Message, "eth9") {
		t.Fatalf("PUT VIP on eth9 = %d %+v", code, e)
	}
	if st, _ := h.store.Load(); st.Serial != 1 || len(st.VIPs) != 0 {
		t.Fatalf("the refused VIP was stored: %+v", st)
	}
	v.Interface = "eth1"
	if code, b := h.do(t, "PUT", fmt.Sprintf("%s/7", agentapi.PathVIPs), v, v1); code != 200 {
		t.Fatalf("PUT VIP on eth1 = %d %s", code, b)
	}
	v.Interface = "all"
	code, b = h.do(t, "PUT", fmt.Sprintf("%s/7", agentapi.PathVIPs), v, v1)
	if e := decodeErr(t, b); code != 422 || e.Field != "interface" {
		t.Fatalf("PUT VIP on all = %d %+v", code, e)
	}
}
