package ipvs

import (
	"fmt"
	"net/netip"
	"strings"
)

// DiffKind is what sort of difference a Diff is.
type DiffKind uint8

const (
	// DiffMissing: the desired service or destination is not in the kernel.
	DiffMissing DiffKind = iota + 1
	// DiffUnwanted: the kernel holds a service or destination that is not configured.
	DiffUnwanted
	// DiffChanged: both hold it, with other settings (What says which).
	DiffChanged
)

// Diff is one difference between the kernel's table and the desired one.
type Diff struct {
	Service ServiceKey
	Dest    netip.AddrPort // zero for a service-level difference
	Kind    DiffKind
	What    string // for people: "missing", "not configured" or the settings that differ
}

func (d Diff) String() string {
	if d.Dest.IsValid() {
		return fmt.Sprintf("%s %s: %s", d.Service, d.Dest, d.What)
	}
	return fmt.Sprintf("%s: %s", d.Service, d.What)
}

// Plan returns the changes that make the kernel's table hold the desired services, and the
// differences that call for them. Only services that are desired or owned are looked at; an
// owned service that is no longer desired is deleted. Everything that can be edited in place
// is: the scheduler, flags and persistence of a service, the forwarding method, weight,
// thresholds and tunnel settings of a destination. Services come before their destinations,
// and destinations are removed before new ones are added.
func Plan(kernel, desired []*Service, owned map[ServiceKey]bool) ([]Op, []Diff) {
	have := make(map[ServiceKey]*Service, len(kernel))
	for _, s := range kernel {
		have[s.ServiceKey] = s
	}
	want := make(map[ServiceKey]bool, len(desired))
	var ops []Op
	var diffs []Diff
	for _, d := range desired {
		want[d.ServiceKey] = true
		k := have[d.ServiceKey]
		if k == nil {
			ops = append(ops, Op{Kind: AddService, Service: d})
			diffs = append(diffs, Diff{Service: d.ServiceKey, Kind: DiffMissing, What: "missing"})
			for _, dst := range d.Dests {
				ops = append(ops, Op{Kind: AddDest, Service: d, Dest: dst})
			}
			continue
		}
		if what := serviceDiff(k, d); what != "" {
			ops = append(ops, Op{Kind: UpdateService, Service: d})
			diffs = append(diffs, Diff{Service: d.ServiceKey, Kind: DiffChanged, What: what})
		}
		kd := make(map[netip.AddrPort]*Dest, len(k.Dests))
		for _, x := range k.Dests {
			kd[x.Key()] = x
		}
		wd := make(map[netip.AddrPort]bool, len(d.Dests))
		for _, x := range d.Dests {
			wd[x.Key()] = true
		}
		for _, x := range k.Dests {
			if !wd[x.Key()] {
				ops = append(ops, Op{Kind: DelDest, Service: d, Dest: x})
				diffs = append(diffs, Diff{Service: d.ServiceKey, Dest: x.Key(), Kind: DiffUnwanted, What: "not configured"})
			}
		}
		for _, x := range d.Dests {
			y := kd[x.Key()]
			if y == nil {
				ops = append(ops, Op{Kind: AddDest, Service: d, Dest: x})
				diffs = append(diffs, Diff{Service: d.ServiceKey, Dest: x.Key(), Kind: DiffMissing, What: "missing"})
				continue
			}
			if what := destDiff(y, x); what != "" {
				ops = append(ops, Op{Kind: UpdateDest, Service: d, Dest: x})
				diffs = append(diffs, Diff{Service: d.ServiceKey, Dest: x.Key(), Kind: DiffChanged, What: what})
			}
		}
	}
	for _, k := range kernel {
		if owned[k.ServiceKey] && !want[k.ServiceKey] {
			ops = append(ops, Op{Kind: DelService, Service: k})
			diffs = append(diffs, Diff{Service: k.ServiceKey, Kind: DiffUnwanted, What: "not configured"})
		}
	}
	return ops, diffs
}

// serviceDiff describes how the kernel's service k differs from the desired d ("" if not).
func serviceDiff(k, d *Service) string {
	var w []string
	if k.Scheduler != d.Scheduler {
		w = append(w, fmt.Sprintf("scheduler %s, want %s", k.Scheduler, d.Scheduler))
	}
	if k.Flags != d.Flags {
		w = append(w, fmt.Sprintf("flags %#x, want %#x", k.Flags, d.Flags))
	}
	// Timeout and netmask only mean something for a persistent service.
	if d.Flags&FlagPersistent != 0 {
		if k.Timeout != d.Timeout {
			w = append(w, fmt.Sprintf("persistence timeout %ds, want %ds", k.Timeout, d.Timeout))
		}
		if k.NetmaskBits != d.NetmaskBits {
			w = append(w, fmt.Sprintf("persistence netmask /%d, want /%d", k.NetmaskBits, d.NetmaskBits))
		}
	}
	return strings.Join(w, "; ")
}

// destDiff describes how the kernel's destination k differs from the desired d ("" if not).
func destDiff(k, d *Dest) string {
	var w []string
	if k.FwdMethod&fwdMask != d.FwdMethod&fwdMask {
		w = append(w, fmt.Sprintf("forwarding %s, want %s", fwdName(k.FwdMethod), fwdName(d.FwdMethod)))
	}
	if k.Weight != d.Weight {
		w = append(w, fmt.Sprintf("weight %d, want %d", k.Weight, d.Weight))
	}
	if k.UpperThreshold != d.UpperThreshold || k.LowerThreshold != d.LowerThreshold {
		w = append(w, fmt.Sprintf("thresholds %d/%d, want %d/%d", k.UpperThreshold, k.LowerThreshold, d.UpperThreshold, d.LowerThreshold))
	}
	if d.FwdMethod&fwdMask == FwdTunnel && (k.TunType != d.TunType || k.TunPort != d.TunPort || k.TunFlags != d.TunFlags) {
		w = append(w, fmt.Sprintf("tunnel type %d port %d flags %#x, want %d port %d flags %#x", k.TunType, k.TunPort, k.TunFlags, d.TunType, d.TunPort, d.TunFlags))
	}
	return strings.Join(w, "; ")
}
