package provider_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// holdsVIP waits (bounded) until host has addr on eth0 (want true) or not (want false).
func (a *accLab) holdsVIP(host, addr string, want bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := a.lab.Host(host).Exec(ctx, "ip", "-o", "addr", "show", "dev", "eth0")
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", host, err, out)
		}
		if has := strings.Contains(string(out), " "+addr+"/"); has == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: holds %s = %v after 20 s, want %v:\n%s", host, addr, !want, want, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *accLab) checkHolder(master, backup, addr string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if err := a.holdsVIP(master, addr, true); err != nil {
			return err
		}
		return a.holdsVIP(backup, addr, false)
	}
}

// checkSyncGroup checks that both agents report the VIP as a member of group.
func (a *accLab) checkSyncGroup(vrid int, group string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, h := range []string{"director1", "director2"} {
			st, err := a.agentStatus(h)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(st.VIPs, func(v agentapi.VIPStatus) bool { return v.VRID == vrid })
			if i < 0 || st.VIPs[i].SyncGroup != group {
				return fmt.Errorf("%s: VIP %d status %+v, want sync group %q", h, vrid, st.VIPs, group)
			}
		}
		return nil
	}
}

func vipConfig(a *accLab, body ...string) string {
	return a.providerBlock() + hcl(
		`resource "lvs_director_pair" "p" {`,
		`  name      = "edge"`,
		`  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`,
		`}`,
		`resource "lvs_vip" "v" {`,
		`  director_pair_id  = lvs_director_pair.p.id`,
		`  virtual_router_id = 91`,
		`  advert_interval   = "100ms"`,
	) + hcl(append(body, `}`)...)
}

// TestAccVIP drives lvs_vip through terraform against agents running real VRRP in the lab:
// the VIP lands on the master's interface, import round-trips, a priority change moves it,
// a VIP removed behind Terraform's back shows in plan and comes back, destroy removes it.
func TestAccVIP(t *testing.T) {
	a := newAccLab(t, director(1), director(2))
	const res = "lvs_vip.v"
	const vip = "198.51.100.100"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy: func(*terraform.State) error {
			for _, h := range []string{"director1", "director2"} {
				if err := a.holdsVIP(h, vip, false); err != nil {
					return err
				}
				if err := a.hostClean(h); err != nil {
					return err
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: vipConfig(a, `  addresses = ["198.51.100.100/24", "2001:db8::100/64"]`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "id", "edge@198.51.100.11,198.51.100.12/vrid/91"),
					resource.TestCheckResourceAttr(res, "status.0", "ready"),
					resource.TestCheckResourceAttr(res, "priority.0", "150"),
					a.checkHolder("director1", "director2", vip),
					a.checkHolder("director1", "director2", "2001:db8::100"),
				),
			},
			{ResourceName: res, ImportState: true, ImportStateVerify: true},
			// sync_group joins in place (a group of one VIP), and the agents report it.
			{
				Config: vipConfig(a, `  addresses = ["198.51.100.100/24", "2001:db8::100/64"]`, `  priority = [100, 150]`, `  sync_group = "nat"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "sync_group", "nat"),
					a.checkHolder("director2", "director1", vip),
					a.checkSyncGroup(91, "nat"),
				),
			},
			// Drift: the VIP is deleted from one agent behind Terraform's back.
			{
				PreConfig: func() {
					a.exec("director1", fmt.Sprintf(`curl -sf --unix-socket %s -X DELETE -H '%s: %d' http://agent%s/91`,
						agentapi.SocketPath, agentapi.HeaderAPIVersion, agentapi.APIVersion, agentapi.PathVIPs))
				},
				Config:             vipConfig(a, `  addresses = ["198.51.100.100/24", "2001:db8::100/64"]`, `  priority = [100, 150]`, `  sync_group = "nat"`),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: vipConfig(a, `  addresses = ["198.51.100.100/24", "2001:db8::100/64"]`, `  priority = [100, 150]`, `  sync_group = "nat"`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "status.0", "ready"),
					a.checkHolder("director2", "director1", vip),
					a.checkSyncGroup(91, "nat"), // the VIP recreated on director1 is a member again
				),
			},
		},
	})
}
