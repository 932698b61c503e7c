package agentapi

// Typed names of the enumerations that travel on the wire. The wire structs keep plain string
// fields (their JSON is unchanged); code that compares or sets them uses these constants.

// ForwardingMethod is how IPVS sends a packet to a real server.
type ForwardingMethod string

// Forwarding methods (VirtualServer.ForwardingMethod, RealServer.ForwardingMethod,
// RealServerBinding.ForwardingMethod).
const (
	ForwardingDR     ForwardingMethod = "dr"     // direct routing: the real server holds the VIP
	ForwardingNAT    ForwardingMethod = "nat"    // masquerading: the director rewrites addresses
	ForwardingTunnel ForwardingMethod = "tunnel" // ipip: the real server decapsulates
)

// HealthState is a real server's health as a director's checks see it (IPVSDestination.Health).
type HealthState string

// Health states.
const (
	HealthUp        HealthState = "up"
	HealthDown      HealthState = "down"
	HealthUnchecked HealthState = "unchecked"
	HealthSorry     HealthState = "sorry" // the sorry server, serving while every real server is down
)
