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

// checkGARP checks through `lvs-agent status --json` on both directors that the VIP's VRRP
// instances run the announcement policy want, and that neither changed VRRP state since
// transitions (by host; nil: not checked) was taken.
func (a *accLab) checkGARP(vrid int, want agentapi.GARP, transitions map[string]uint64) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, h := range []string{"director1", "director2"} {
			v, err := a.vipStatus(h, vrid)
			if err != nil {
				return err
			}
			if v.GARP == nil || *v.GARP != want {
				return fmt.Errorf("%s: VIP %d runs the announcement policy %+v, want %+v", h, vrid, v.GARP, want)
			}
			if n, ok := transitions[h]; ok && v.Transitions != n {
				return fmt.Errorf("%s: VIP %d changed VRRP state (%d transitions, %d before): the change was not applied live", h, vrid, v.Transitions, n)
			}
		}
		return nil
	}
}

func (a *accLab) vipStatus(host string, vrid int) (agentapi.VIPStatus, error) {
	st, err := a.agentStatus(host)
	if err != nil {
		return agentapi.VIPStatus{}, err
	}
	for _, v := range st.VIPs {
		if v.VRID == vrid {
			return v, nil
		}
	}
	return agentapi.VIPStatus{}, fmt.Errorf("%s: no VIP %d in the agent's status", host, vrid)
}

// TestAccVIP drives lvs_vip through terraform against agents running real VRRP in the lab:
// the VIP lands on the master's interface, import round-trips, gratuitous_arp applies live
// (no failover), a priority change moves it, a VIP changed or removed behind Terraform's back
// shows in plan and comes back, destroy removes it.
func TestAccVIP(t *testing.T) {
	a := newAccLab(t, director(1), director(2))
	const res = "lvs_vip.v"
	const vip = "198.51.100.100"
	addrs := `  addresses = ["198.51.100.100/24", "2001:db8::100/64"]`
	garp := `  gratuitous_arp = { repeat = 3, refresh = "1s", refresh_repeat = 2 }`
	sg := `  sync_group = "nat"`
	transitions := map[string]uint64{}
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
					resource.TestCheckNoResourceAttr(res, "gratuitous_arp.repeat"),
					a.checkGARP(91, agentapi.DefaultGARP, nil),
					a.checkHolder("director1", "director2", vip),
					a.checkHolder("director1", "director2", "2001:db8::100"),
				),
			},
			{ResourceName: res, ImportState: true, ImportStateVerify: true},
			// gratuitous_arp: an in-place update the agents apply live; the master keeps the VIP.
			{
				PreConfig: func() {
					for _, h := range []string{"director1", "director2"} {
						v, err := a.vipStatus(h, 91)
						if err != nil {
							t.Fatal(err)
						}
						transitions[h] = v.Transitions
					}
				},
				Config: vipConfig(a, addrs, garp),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "gratuitous_arp.delay", "5s"),
					resource.TestCheckResourceAttr(res, "gratuitous_arp.repeat", "3"),
					resource.TestCheckResourceAttr(res, "gratuitous_arp.refresh", "1s"),
					resource.TestCheckResourceAttr(res, "gratuitous_arp.refresh_repeat", "2"),
					a.checkGARP(91, agentapi.GARP{DelayMS: 5000, Repeat: 3, RefreshMS: 1000, RefreshRepeat: 2}, transitions),
					a.checkHolder("director1", "director2", vip),
				),
			},
			{ResourceName: res, ImportState: true, ImportStateVerify: true},
			// sync_group joins in place (a group of one VIP), with a priority change; the agents report it.
			{
				Config: vipConfig(a, addrs, garp, `  priority = [100, 150]`, sg),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "sync_group", "nat"),
					a.checkHolder("director2", "director1", vip),
					a.checkSyncGroup(91, "nat"),
				),
			},
			// Drift: one agent's announcement policy is changed behind Terraform's back.
			{
				PreConfig: func() {
					api := fmt.Sprintf(`curl -sf --unix-socket %s -H '%s: %d' http://agent%s/91`, agentapi.SocketPath, agentapi.HeaderAPIVersion, agentapi.APIVersion, agentapi.PathVIPs)
					a.exec("director1", api+` | sed 's/"repeat":3/"repeat":4/' | `+api+` -X PUT -H 'Content-Type: application/json' --data-binary @- >/dev/null`)
				},
				Config:             vipConfig(a, addrs, garp, `  priority = [100, 150]`),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			// Drift: the VIP is deleted from one agent behind Terraform's back.
			{
				PreConfig: func() {
					a.exec("director1", fmt.Sprintf(`curl -sf --unix-socket %s -X DELETE -H '%s: %d' http://agent%s/91`,
						agentapi.SocketPath, agentapi.HeaderAPIVersion, agentapi.APIVersion, agentapi.PathVIPs))
				},
				Config:             vipConfig(a, addrs, garp, `  priority = [100, 150]`, sg),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: vipConfig(a, addrs, garp, `  priority = [100, 150]`, sg),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "status.0", "ready"),
					a.checkHolder("director2", "director1", vip),
					a.checkGARP(91, agentapi.GARP{DelayMS: 5000, Repeat: 3, RefreshMS: 1000, RefreshRepeat: 2}, nil),
					a.checkSyncGroup(91, "nat"), // the VIP recreated on director1 is a member again
				),
			},
			// Unset again: keepalived's defaults, and no diff after.
			{
				Config: vipConfig(a, addrs, `  priority = [100, 150]`, sg),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr(res, "gratuitous_arp.repeat"),
					a.checkGARP(91, agentapi.DefaultGARP, nil),
				),
			},
		},
	})
}
