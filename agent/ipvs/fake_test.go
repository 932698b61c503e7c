package ipvs

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
)

// fakeKernel is an IPVS table in memory with the kernel's error semantics, recording every op.
type fakeKernel struct {
	mu        sync.Mutex
	svcs      map[ServiceKey]*Service
	ops       []Op
	timeouts  Timeouts
	daemons   []Daemon
	scheds    []string // available schedulers; nil = all but twos
	setConfig int
	dumps     int
	onDump    func() // called by each Services
}

func newFake() *fakeKernel {
	return &fakeKernel{svcs: map[ServiceKey]*Service{}, timeouts: KernelDefaultTimeouts}
}

func cloneSvc(s *Service) *Service {
	c := *s
	c.Dests = nil
	for _, d := range s.Dests {
		x := *d
		c.Dests = append(c.Dests, &x)
	}
	return &c
}

func (f *fakeKernel) Services() ([]*Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dumps++
	if f.onDump != nil {
		f.onDump()
	}
	var out []*Service
	for _, s := range f.svcs {
		c := cloneSvc(s)
		sortDests(c.Dests)
		out = append(out, c)
	}
	sortServices(out)
	return out, nil
}

func (f *fakeKernel) Exec(ops []Op) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(ops))
	for i, o := range ops {
		f.ops = append(f.ops, o)
		if err := f.exec(o); err != nil {
			errs[i] = &OpError{Op: o, Err: err}
		}
	}
	return errs
}

func (f *fakeKernel) exec(o Op) error {
	s := f.svcs[o.Service.ServiceKey]
	switch o.Kind {
	case AddService:
		if s != nil {
			return syscall.EEXIST
		}
		if !f.hasSched(o.Service.Scheduler) {
			return syscall.ENOENT
		}
		c := cloneSvc(o.Service)
		c.Dests = nil
		f.svcs[o.Service.ServiceKey] = c
	case UpdateService:
		if s == nil {
			return syscall.ESRCH
		}
		if !f.hasSched(o.Service.Scheduler) {
			return syscall.ENOENT
		}
		s.Scheduler, s.Flags, s.Timeout, s.NetmaskBits = o.Service.Scheduler, o.Service.Flags, o.Service.Timeout, o.Service.NetmaskBits
	case DelService:
		if s == nil {
			return syscall.ESRCH
		}
		delete(f.svcs, o.Service.ServiceKey)
	case AddDest, UpdateDest, DelDest:
		if s == nil {
			return syscall.ESRCH
		}
		i := slices.IndexFunc(s.Dests, func(d *Dest) bool { return d.Key() == o.Dest.Key() })
		switch o.Kind {
		case AddDest:
			if i >= 0 {
				return syscall.EEXIST
			}
			d := *o.Dest
			s.Dests = append(s.Dests, &d)
		case UpdateDest:
			if i < 0 {
				return syscall.ENOENT
			}
			d := *o.Dest
			s.Dests[i] = &d
		case DelDest:
			if i < 0 {
				return syscall.ENOENT
			}
			s.Dests = slices.Delete(s.Dests, i, i+1)
		}
	}
	return nil
}

func (f *fakeKernel) hasSched(s string) bool {
	if f.scheds == nil {
		return s != "twos"
	}
	return slices.Contains(f.scheds, s)
}

func (f *fakeKernel) Timeouts() (Timeouts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.timeouts, nil
}

func (f *fakeKernel) SetTimeouts(t Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setConfig++
	if t.TCP != 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		f.timeouts.UDP = t.UDP
	}
	return nil
}

func (f *fakeKernel) Daemons() ([]Daemon, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.daemons), nil
}

func (f *fakeKernel) StartDaemon(d Daemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.daemons {
		if x.State == d.State {
			return syscall.EEXIST
		}
	}
	// As start_sync_thread: the defaults filled in, the length clamped (MTU 1500 by default).
	if d.Port == 0 {
		d.Port = DefaultSyncPort
	}
	if d.TTL == 0 {
		d.TTL = DefaultSyncTTL
	}
	if !d.Group.IsValid() {
		d.Group = DefaultSyncGroup
	}
	if d.MaxLen == 0 {
		d.MaxLen = 1500 - 28
	} else {
		d.MaxLen = clampSyncLen(d)
	}
	f.daemons = append(f.daemons, d)
	return nil
}

func (f *fakeKernel) StopDaemon(state uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.daemons, func(d Daemon) bool { return d.State == state })
	if i < 0 {
		return syscall.ESRCH
	}
	f.daemons = slices.Delete(f.daemons, i, i+1)
	return nil
}

func (f *fakeKernel) Close() error { return nil }

// takeOps returns and clears the recorded ops.
func (f *fakeKernel) takeOps() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.ops
	f.ops = nil
	return o
}

// tamper changes the table as someone running ipvsadm would.
func (f *fakeKernel) tamper(fn func(map[ServiceKey]*Service)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.svcs)
}

func (f *fakeKernel) dest(svc, dst string) *Dest {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, s := range f.svcs {
		if k.String() != svc {
			continue
		}
		for _, d := range s.Dests {
			if d.Key().String() == dst {
				c := *d
				return &c
			}
		}
	}
	return nil
}

func (f *fakeKernel) service(key string) *Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, s := range f.svcs {
		if k.String() == key {
			return cloneSvc(s)
		}
	}
	return nil
}

// fakeSys is /proc/sys in memory.
type fakeSys struct {
	mu sync.Mutex
	v  map[string]string
}

func (s *fakeSys) Sysctl(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.v[name]
	if !ok {
		return "", fmt.Errorf("no sysctl %s", name)
	}
	return v, nil
}

func (s *fakeSys) SetSysctl(name, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.v[name]; !ok {
		return fmt.Errorf("no sysctl %s", name)
	}
	s.v[name] = value
	return nil
}

func (s *fakeSys) get(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v[name]
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
