// Package version holds the build's version string, shared by the provider and the agent so that
// the provider can tell whether the agent on a host is the one it bundles.
package version

// Version is set at build time with -ldflags "-X github.com/lvs-provider/terraform-provider-lvs/internal/version.Version=...".
var Version = "0.1.0-dev"
