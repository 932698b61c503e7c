package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// State is a VRRP router state (RFC 5798 §6.4) plus keepalived's FAULT.
type State uint8

const (
	// StateInit is Initialize: not started, or stopped by Shutdown.
	StateInit State = iota
	StateBackup
	StateMaster
	// StateFault: a tracked interface or script forced the instance down;
	// it holds no address and ignores advertisements until the fault clears.
	StateFault
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// GARPPolicy says how often a new master announces its virtual addresses with
// gratuitous ARPs / unsolicited NAs. The names are keepalived's.
type GARPPolicy struct {
	// Repeat is how many to send per address in each burst
	// (garp_master_repeat). 0 means keepalived's default, 5.
	Repeat int
	// Delay is when the second burst follows the first (garp_master_delay),
	// for switches that were still learning when the first went out.
	// 0 means keepalived's default, 5s; negative means no second burst.
	Delay time.Duration
	// Refresh repeats a burst of RefreshRepeat at that period while master
	// (garp_master_refresh); 0 disables it, as in keepalived.
	Refresh       time.Duration
	RefreshRepeat int // 0 means 1
}

// Defaults for GARPPolicy, as keepalived's.
const (
	DefaultGARPRepeat = 5
	DefaultGARPDelay  = 5 * time.Second
)

// Effective returns p with its zero fields replaced by the defaults, as the Machine runs it.
func (p GARPPolicy) Effective() GARPPolicy {
	if p.Repeat == 0 {
		p.Repeat = DefaultGARPRepeat
	}
	if p.Delay == 0 {
		p.Delay = DefaultGARPDelay
	}
	if p.RefreshRepeat == 0 {
		p.RefreshRepeat = 1
	}
	return p
}

// Config is one virtual router as the Machine needs it.
type Config struct {
	Version uint8 // 2 or 3
	VRID    uint8 // 1-255
	// Priority is the base priority, 1-254, or 255 for the address owner.
	Priority uint8
	// AdvertInterval is whole seconds for v2, a multiple of 10ms for v3.
	AdvertInterval time.Duration
	// Addresses are the virtual addresses, in the order they are advertised.
	Addresses []netip.Addr
	// PrimaryAddr is the address adverts are sent from; it breaks ties between
	// equal priorities (the higher address wins, RFC 5798 §6.4.3). For IPv6
	// it is the interface's link-local address.
	PrimaryAddr netip.Addr
	// AuthType and AuthData (see PassAuthData) are VRRPv2 only.
	AuthType AuthType
	AuthData [8]byte
	// NoPreempt keeps a higher-priority backup from taking over from a live
	// lower-priority master (Preempt_Mode false). Preemption is the default,
	// as in the RFC and keepalived.
	NoPreempt bool
	// PreemptDelay is keepalived's preempt_delay: after starting (or leaving
	// FAULT), and after first hearing a lower-priority master, a backup
	// tolerates that master for this long before preempting it. 0 disables.
	PreemptDelay time.Duration
	// LowerPrioNoAdvert stops a master from answering a lower-priority advert
	// with an immediate advert of its own (keepalived lower_prio_no_advert).
	LowerPrioNoAdvert bool
	// SkipCheckAddresses accepts adverts whose address list differs from
	// ours (keepalived vrrp_skip_check_adv_addr). Otherwise they are dropped
	// unless sent by the address owner (RFC 5798 §7.1).
	SkipCheckAddresses bool
	GARP               GARPPolicy
}

// Validate reports the first invalid field of c.
func (c *Config) Validate() error {
	if c.Version != 2 && c.Version != 3 {
		return fmt.Errorf("vrrp: version: %w: %d", ErrVersion, c.Version)
	}
	if c.VRID == 0 {
		return errors.New("vrrp: vrid: must be 1-255")
	}
	if c.Priority == 0 {
		return errors.New("vrrp: priority: must be 1-255")
	}
	if _, err := IntervalField(c.Version, c.AdvertInterval); err != nil {
		return fmt.Errorf("vrrp: advert_interval: %w", err)
	}
	if len(c.Addresses) == 0 || len(c.Addresses) > 255 {
		return fmt.Errorf("vrrp: addresses: need 1-255, got %d", len(c.Addresses))
	}
	p := c.PrimaryAddr.Unmap()
	if !p.IsValid() {
		return errors.New("vrrp: primary_addr: missing")
	}
	if c.Version == 2 && !p.Is4() {
		return fmt.Errorf("vrrp: primary_addr: %w: VRRPv2 is IPv4 only", ErrFamily)
	}
	for _, a := range c.Addresses {
		if a.Unmap().Is4() != p.Is4() {
			return fmt.Errorf("vrrp: addresses: %w: %v with primary address %v", ErrFamily, a, p)
		}
	}
	switch {
	case c.Version == 3 && c.AuthType != AuthNone:
		return fmt.Errorf("vrrp: auth_type: %w: VRRPv3 has no authentication", ErrAuthType)
	case c.AuthType != AuthNone && c.AuthType != AuthPass:
		return fmt.Errorf("vrrp: auth_type: %w: %v", ErrAuthType, c.AuthType)
	case c.AuthType == AuthPass && c.AuthData == [8]byte{}:
		return errors.New("vrrp: auth_data: PASS needs a password")
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > 1000*time.Second {
		return fmt.Errorf("vrrp: preempt_delay: must be 0-1000s, got %v", c.PreemptDelay)
	}
	if c.GARP.Repeat < 0 || c.GARP.RefreshRepeat < 0 || c.GARP.Refresh < 0 {
		return errors.New("vrrp: garp: negative repeat or refresh")
	}
	return nil
}

// Errors returned by Machine.HandleAdvert for adverts it drops, besides
// ErrVersion, ErrInterval (v2 interval mismatch), ErrAuth and ErrFamily.
var (
	ErrVRID        = errors.New("vrrp: VRID mismatch")
	ErrAddressList = errors.New("vrrp: virtual address list mismatch")
	ErrOwnAddress  = errors.New("vrrp: advert from our own primary address")
)

// Action is something the engine must do, in the order returned: one of
// SendAdvert, AddVIPs, RemoveVIPs, SendGratuitous, Notify.
type Action interface{ isAction() }

// SendAdvert: send Machine.Advert(Priority) now.
type SendAdvert struct{ Priority uint8 }

// AddVIPs: configure the virtual addresses on the interface.
type AddVIPs struct{}

// RemoveVIPs: remove the virtual addresses (absent ones are not an error;
// it is also issued on Start to clear addresses left by a previous run).
type RemoveVIPs struct{}

// SendGratuitous: send Count gratuitous ARPs (IPv4) or unsolicited NAs
// (IPv6) for each virtual address, back to back.
type SendGratuitous struct{ Count int }

// Notify: the state changed (log it, run notify hooks, update metrics).
type Notify struct{ From, To State }

func (SendAdvert) isAction()     {}
func (AddVIPs) isAction()        {}
func (RemoveVIPs) isAction()     {}
func (SendGratuitous) isAction() {}
func (Notify) isAction()         {}

func (a SendAdvert) String() string     { return fmt.Sprintf("SendAdvert(%d)", a.Priority) }
func (AddVIPs) String() string          { return "AddVIPs" }
func (RemoveVIPs) String() string       { return "RemoveVIPs" }
func (a SendGratuitous) String() string { return fmt.Sprintf("SendGratuitous(%d)", a.Count) }
func (a Notify) String() string         { return fmt.Sprintf("Notify(%v->%v)", a.From, a.To) }

// SkewTime is RFC 5798 §6.1 Skew_Time for VRRPv3,
// ((256 - Priority) * Master_Adver_Interval) / 256, and RFC 3768 §6.1
// Skew_Time for VRRPv2, (256 - Priority) / 256 seconds — which differ when a
// v2 interval is not one second. keepalived does the same.
func SkewTime(version, priority uint8, masterAdverInt time.Duration) time.Duration {
	if version == 2 {
		return time.Duration(256-int(priority)) * time.Second / 256
	}
	return time.Duration(256-int(priority)) * masterAdverInt / 256
}

// MasterDownInterval is 3 * Master_Adver_Interval + Skew_Time: how long a
// backup waits for the master before taking over.
func MasterDownInterval(version, priority uint8, masterAdverInt time.Duration) time.Duration {
	return 3*masterAdverInt + SkewTime(version, priority, masterAdverInt)
}

// Machine is the RFC 5798 §6 state machine of one virtual router. It does no
// I/O and reads no clock: every event carries the current time, timers are
// deadlines reported by NextDeadline, and the consequences are returned as
// Actions. It is not safe for concurrent use; the engine owns it.
type Machine struct {
	cfg      Config
	interval uint16 // cfg.AdvertInterval as the packet field

	state  State
	prio   uint8 // effective priority
	weight int   // sum of tracking weights
	fault  bool

	masterAdverInt time.Duration
	masterAddr     netip.Addr
	masterPrio     uint8

	// Timers as deadlines; the zero time means stopped.
	masterDownAt time.Time // backup
	downPrio     uint8     // the priority whose Skew_Time masterDownAt holds
	adverAt      time.Time // master
	garpAt       time.Time // master: second GARP burst
	refreshAt    time.Time // master: periodic GARP refresh
	// preemptAt: not a timer but the moment from which a backup stops
	// tolerating a lower-priority master (keepalived preempt_time).
	preemptAt time.Time

	// gated: a member of a sync group, whose takeovers are the group's decision
	// (see SyncDecide): when Master_Down_Timer runs out it does not become master
	// but wants to (wants), until TakeOver or an advert from a master it yields to.
	gated bool
	wants bool
}

// NewMachine returns a Machine in StateInit for a valid configuration.
func NewMachine(cfg Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.PrimaryAddr = cfg.PrimaryAddr.Unmap()
	cfg.Addresses = slices.Clone(cfg.Addresses)
	for i, a := range cfg.Addresses {
		cfg.Addresses[i] = a.Unmap()
	}
	if cfg.AuthType != AuthPass {
		cfg.AuthData = [8]byte{}
	}
	cfg.GARP = cfg.GARP.Effective()
	iv, _ := IntervalField(cfg.Version, cfg.AdvertInterval)
	m := &Machine{cfg: cfg, interval: iv, masterAdverInt: cfg.AdvertInterval}
	m.prio = m.effective()
	return m, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority: the base priority adjusted by
// tracking weights.
func (m *Machine) Priority() uint8 { return m.prio }

// Master returns the address and priority of the last master heard from
// (ourselves when master), for status output.
func (m *Machine) Master() (netip.Addr, uint8) { return m.masterAddr, m.masterPrio }

// MasterAdverInterval returns Master_Adver_Interval: ours, or for VRRPv3
// the one learned from the current master.
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInt }

// Advert returns the advertisement to send for a SendAdvert action.
func (m *Machine) Advert(priority uint8) *Advert {
	return &Advert{
		Version:        m.cfg.Version,
		VRID:           m.cfg.VRID,
		Priority:       priority,
		AuthType:       m.cfg.AuthType,
		AuthData:       m.cfg.AuthData,
		AdvertInterval: m.interval,
		Addresses:      slices.Clone(m.cfg.Addresses),
	}
}

// NextDeadline returns when Tick must next be called; ok is false when no
// timer runs (INIT, FAULT).
func (m *Machine) NextDeadline() (t time.Time, ok bool) {
	for _, d := range [...]time.Time{m.masterDownAt, m.adverAt, m.garpAt, m.refreshAt} {
		if !d.IsZero() && (!ok || d.Before(t)) {
			t, ok = d, true
		}
	}
	return t, ok
}

func due(deadline, now time.Time) bool { return !deadline.IsZero() && !now.Before(deadline) }

// Start leaves StateInit (RFC 5798 §6.4.1): the address owner becomes master
// at once; anyone else removes stale virtual addresses and waits as backup
// for Master_Down_Interval; a faulted instance goes to FAULT.
func (m *Machine) Start(now time.Time) []Action {
	if m.state != StateInit {
		return nil
	}
	if !m.fault && m.prio == PriorityOwner {
		return m.becomeMaster(now)
	}
	return append([]Action{RemoveVIPs{}}, m.enter(now)...)
}

// enter picks the state after Initialize or FAULT.
func (m *Machine) enter(now time.Time) []Action {
	switch {
	case m.fault:
		return m.becomeFault()
	case m.prio == PriorityOwner:
		return m.becomeMaster(now)
	}
	m.masterAdverInt = m.cfg.AdvertInterval
	m.masterAddr, m.masterPrio = netip.Addr{}, 0
	acts := m.becomeBackup(now)
	if m.cfg.PreemptDelay > 0 {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	return acts
}

// Shutdown stops the instance (RFC 5798 §6.4.2/§6.4.3 Shutdown event): a
// master sends a priority 0 advert, so that a backup takes over after
// Skew_Time instead of Master_Down_Interval, and removes its addresses.
func (m *Machine) Shutdown(now time.Time) []Action {
	from := m.state
	if from == StateInit {
		return nil
	}
	var acts []Action
	if from == StateMaster {
		acts = append(acts, SendAdvert{PriorityStop}, RemoveVIPs{})
	}
	m.stopTimers()
	m.state = StateInit
	return append(acts, Notify{from, StateInit})
}

// Tick fires the timers due at now. Call it at NextDeadline (late is fine).
func (m *Machine) Tick(now time.Time) []Action {
	var acts []Action
	switch m.state {
	case StateBackup:
		if due(m.masterDownAt, now) {
			// The master is silent (or sent priority 0, or we are discarding
			// its lower-priority adverts to preempt it).
			if m.gated {
				m.masterDownAt, m.wants = time.Time{}, true
				break
			}
			acts = append(acts, m.becomeMaster(now)...)
		}
	case StateMaster:
		if due(m.adverAt, now) {
			acts = append(acts, SendAdvert{m.prio})
			m.adverAt = now.Add(m.cfg.AdvertInterval)
		}
		if due(m.garpAt, now) {
			acts = append(acts, SendGratuitous{m.cfg.GARP.Repeat})
			m.garpAt = time.Time{}
		}
		if due(m.refreshAt, now) {
			acts = append(acts, SendGratuitous{m.cfg.GARP.RefreshRepeat})
			m.refreshAt = now.Add(m.cfg.GARP.Refresh)
		}
	}
	return acts
}

// HandleAdvert processes an advert that passed Parse (and CheckTTL), from the
// source address of its IP packet. Adverts that do not match the local
// configuration are dropped with an error saying why; adverts received in
// INIT or FAULT are ignored.
func (m *Machine) HandleAdvert(now time.Time, a *Advert, from netip.Addr) ([]Action, error) {
	if m.state != StateBackup && m.state != StateMaster {
		return nil, nil
	}
	if err := m.check(a, from.Unmap()); err != nil {
		return nil, err
	}
	from = from.Unmap()
	if m.state == StateBackup {
		m.backupRx(now, a, from)
		return nil, nil
	}
	return m.masterRx(now, a, from), nil
}

// check applies the receive checks that need local configuration
// (RFC 5798 §7.1, RFC 3768 §7.1).
func (m *Machine) check(a *Advert, from netip.Addr) error {
	switch {
	case a.Version != m.cfg.Version:
		return fmt.Errorf("%w: received %d, configured %d", ErrVersion, a.Version, m.cfg.Version)
	case a.VRID != m.cfg.VRID:
		return fmt.Errorf("%w: received %d, configured %d", ErrVRID, a.VRID, m.cfg.VRID)
	case !from.IsValid() || from.Is4() != m.cfg.PrimaryAddr.Is4():
		return fmt.Errorf("%w: advert from %v", ErrFamily, from)
	case from == m.cfg.PrimaryAddr:
		// Our own advert looped back, or an address conflict: either way
		// not a peer to elect against.
		return fmt.Errorf("%w: %v", ErrOwnAddress, from)
	}
	if a.Version == 2 {
		if err := a.Authenticate(m.cfg.AuthType, m.cfg.AuthData); err != nil {
			return err
		}
		// RFC 3768 §7.1: v2 routers must agree on the interval (there is no
		// Master_Adver_Interval to learn).
		if a.AdvertInterval != m.interval {
			return fmt.Errorf("%w: received %ds, configured %ds", ErrInterval, a.AdvertInterval, m.interval)
		}
	}
	if !m.cfg.SkipCheckAddresses && a.Priority != PriorityOwner && !m.sameAddresses(a.Addresses) {
		return fmt.Errorf("%w: received %v, configured %v", ErrAddressList, a.Addresses, m.cfg.Addresses)
	}
	return nil
}

func (m *Machine) sameAddresses(got []netip.Addr) bool {
	if len(got) != len(m.cfg.Addresses) {
		return false
	}
	for _, want := range m.cfg.Addresses {
		if !slices.Contains(got, want) {
			return false
		}
	}
	return true
}

// backupRx is RFC 5798 §6.4.2 "If an ADVERTISEMENT is received", with
// keepalived's preempt_delay.
func (m *Machine) backupRx(now time.Time, a *Advert, from netip.Addr) {
	if a.Priority == PriorityStop {
		if m.wants {
			return // ready to take over already
		}
		// The master is leaving: take over after Skew_Time, so that the
		// highest-priority backup (shortest skew) wins the race.
		m.masterDownAt, m.downPrio = now.Add(SkewTime(m.cfg.Version, m.prio, m.masterAdverInt)), m.prio
		return
	}
	tolerate := m.cfg.NoPreempt || a.Priority >= m.prio ||
		(m.cfg.PreemptDelay > 0 && (m.preemptAt.IsZero() || now.Before(m.preemptAt)))
	m.masterAddr, m.masterPrio = from, a.Priority
	if !tolerate {
		// Preempt: discard, and let Master_Down_Timer run out.
		return
	}
	if m.cfg.Version == 3 {
		m.masterAdverInt = a.Interval()
	}
	m.wants = false // a master we yield to is alive
	m.masterDownAt, m.downPrio = now.Add(MasterDownInterval(m.cfg.Version, m.prio, m.masterAdverInt)), m.prio
	if m.cfg.PreemptDelay > 0 {
		if a.Priority >= m.prio {
			m.preemptAt = time.Time{}
		} else if m.preemptAt.IsZero() {
			m.preemptAt = now.Add(m.cfg.PreemptDelay)
		}
	}
}

// masterRx is RFC 5798 §6.4.3 "If an ADVERTISEMENT is received".
func (m *Machine) masterRx(now time.Time, a *Advert, from netip.Addr) []Action {
	if a.Priority == PriorityStop {
		// Another master is stopping: assert ourselves at once so that
		// backups do not take over after their Skew_Time.
		m.adverAt = now.Add(m.cfg.AdvertInterval)
		return []Action{SendAdvert{m.prio}}
	}
	if a.Priority > m.prio || (a.Priority == m.prio && from.Compare(m.cfg.PrimaryAddr) > 0) {
		if m.cfg.Version == 3 {
			m.masterAdverInt = a.Interval()
		}
		m.masterAddr, m.masterPrio = from, a.Priority
		return m.becomeBackup(now)
	}
	// A lower-priority router thinks it is master (typically after a
	// partition): keepalived answers at once so that it steps down now
	// rather than at our next advert.
	if m.cfg.LowerPrioNoAdvert {
		return nil
	}
	return []Action{SendAdvert{m.prio}}
}

// UpdateTracking sets the tracking outcome: weight is the sum of the
// weights of tracked objects (keepalived: failed objects with a negative
// weight and healthy ones with a positive weight), fault whether any tracked
// object without weight is down. The effective priority is the base
// priority plus weight, clamped to 1-254; the address owner's never changes.
// A fault leaves any state for FAULT (a master sends priority 0 first); its
// end returns to BACKUP, or MASTER for the owner.
func (m *Machine) UpdateTracking(now time.Time, weight int, fault bool) []Action {
	old := m.prio
	m.weight = weight
	m.prio = m.effective()
	wasFault := m.fault
	m.fault = fault
	if m.state == StateInit {
		return nil
	}
	switch {
	case fault && !wasFault:
		return m.becomeFault()
	case !fault && wasFault && m.state == StateFault:
		return m.enter(now)
	}
	if m.state == StateBackup && m.prio > old && !m.wants {
		// keepalived: a backup whose priority rises moves its deadline earlier by the
		// shrinking of Skew_Time (a lower one keeps it). The shrinking is from the priority
		// the timer was armed with: a priority that fell and rose again must not move the
		// deadline earlier than the new priority's Master_Down_Interval from the master's last
		// advert (a fall kept the deadline), nor into the past.
		at := m.masterDownAt.Add(SkewTime(m.cfg.Version, m.prio, m.masterAdverInt) -
			SkewTime(m.cfg.Version, m.downPrio, m.masterAdverInt))
		if at.Before(m.masterDownAt) {
			if at.Before(now) {
				at = now // overdue at the new priority: the master is down now
			}
			m.masterDownAt, m.downPrio = at, m.prio
		}
	}
	// A master's new priority goes out with its next advert.
	return nil
}

func (m *Machine) effective() uint8 {
	if m.cfg.Priority == PriorityOwner {
		return PriorityOwner
	}
	return uint8(min(max(int(m.cfg.Priority)+m.weight, 1), PriorityOwner-1))
}

// becomeMaster is RFC 5798 §6.4.1/§6.4.2: advertise first (so that the old
// master, if any, drops the addresses before our GARPs), then take the
// addresses and announce them.
func (m *Machine) becomeMaster(now time.Time) []Action {
	from := m.state
	m.stopTimers()
	m.state = StateMaster
	m.masterAdverInt = m.cfg.AdvertInterval
	m.masterAddr, m.masterPrio = m.cfg.PrimaryAddr, m.prio
	m.adverAt = now.Add(m.cfg.AdvertInterval)
	if m.cfg.GARP.Delay > 0 {
		m.garpAt = now.Add(m.cfg.GARP.Delay)
	}
	if m.cfg.GARP.Refresh > 0 {
		m.refreshAt = now.Add(m.cfg.GARP.Refresh)
	}
	return []Action{
		SendAdvert{m.prio},
		AddVIPs{},
		SendGratuitous{m.cfg.GARP.Repeat},
		Notify{from, StateMaster},
	}
}

// becomeBackup arms Master_Down_Timer from the current Master_Adver_Interval.
func (m *Machine) becomeBackup(now time.Time) []Action {
	from := m.state
	m.stopTimers()
	m.state = StateBackup
	m.masterDownAt, m.downPrio = now.Add(MasterDownInterval(m.cfg.Version, m.prio, m.masterAdverInt)), m.prio
	var acts []Action
	if from == StateMaster {
		acts = append(acts, RemoveVIPs{})
	}
	return append(acts, Notify{from, StateBackup})
}

// becomeFault releases everything; a master says priority 0 on the way out
// so that a backup takes over after Skew_Time (keepalived does the same).
func (m *Machine) becomeFault() []Action {
	from := m.state
	m.stopTimers()
	m.state = StateFault
	m.masterAddr, m.masterPrio = netip.Addr{}, 0
	var acts []Action
	if from == StateMaster {
		acts = append(acts, SendAdvert{PriorityStop}, RemoveVIPs{})
	}
	return append(acts, Notify{from, StateFault})
}

func (m *Machine) stopTimers() {
	m.masterDownAt, m.adverAt, m.garpAt, m.refreshAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	m.preemptAt = time.Time{}
	m.wants = false
}

// SetGated makes the machine a member of a sync group (true) or a router of its own (false).
// A gated backup whose Master_Down_Timer runs out stays backup and Wants to be master until
// TakeOver; ungating one that wants makes its timer due at once.
func (m *Machine) SetGated(now time.Time, gated bool) {
	if m.gated == gated {
		return
	}
	m.gated = gated
	if !gated && m.wants {
		m.wants = false
		m.masterDownAt = now
	}
}

// View is what the machine's sync group decides on.
func (m *Machine) View() MemberView {
	return MemberView{
		State: m.state, Wants: m.Wants(), Self: m.cfg.PrimaryAddr, Master: m.masterAddr,
		MasterDown: MasterDownInterval(m.cfg.Version, m.prio, m.masterAdverInt),
	}
}

// Wants reports whether a gated backup would be master on its own: its Master_Down_Timer ran
// out (the master is silent, stopped, or has a lower priority to preempt) and no master it
// yields to was heard since.
func (m *Machine) Wants() bool { return m.state == StateBackup && m.wants }

// TakeOver makes a backup that Wants it master: its sync group decided that every member
// takes over.
func (m *Machine) TakeOver(now time.Time) []Action {
	if !m.Wants() {
		return nil
	}
	return m.becomeMaster(now)
}

// StepDown makes a master backup because its sync group leaves MASTER (another member yields
// to the peer, or faults): it says priority 0 first so that the peer's backup takes over after
// its Skew_Time, as a stopping master does.
func (m *Machine) StepDown(now time.Time) []Action {
	if m.state != StateMaster {
		return nil
	}
	return append([]Action{SendAdvert{PriorityStop}}, m.becomeBackup(now)...)
}
