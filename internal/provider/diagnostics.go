package provider

// Summaries of the provider's diagnostics, one spelling each: a user (or a script) who met one
// finds every place it comes from.
const (
	summaryInvalidPairID          = "Invalid Director Pair ID"
	summaryInvalidVIPID           = "Invalid VIP ID"
	summaryInvalidVirtualServerID = "Invalid Virtual Server ID"
	summaryInvalidImportID        = "Invalid Import ID"
	summaryInvalidDuration        = "Invalid Duration"
	summaryInvalidPair            = "Invalid Director Pair Configuration"
	summaryInvalidVIP             = "Invalid VIP Configuration"
	summaryInvalidVirtualServer   = "Invalid Virtual Server Configuration"
	summaryInvalidRealServer      = "Invalid Real Server Configuration"
	summaryInvalidHealthCheck     = "Invalid Health Check"
	summaryInvalidDrainTimeout    = "Invalid Drain Timeout"
	summaryCleanupFailedCreate    = "Cleanup After Failed Create: "
)
