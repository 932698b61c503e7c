package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// runOnHosts runs fn on every host at once and returns each host's error, in the hosts' order,
// so that the diagnostics made of them come in the same order every time.
func runOnHosts(hosts []string, fn func(i int, host string) error) []error {
	errs := make([]error, len(hosts))
	done := make(chan struct{}, len(hosts))
	for i, h := range hosts {
		go func() {
			errs[i] = fn(i, h)
			done <- struct{}{}
		}()
	}
	for range hosts {
		<-done
	}
	return errs
}

// forEachHost runs fn on every host at once; failures become errors on at.
func forEachHost(hosts []string, at path.Path, fn func(i int, host string) error) diag.Diagnostics {
	var diags diag.Diagnostics
	for i, err := range runOnHosts(hosts, fn) {
		if err != nil {
			summary, detail := remote.Describe(hosts[i], err)
			diags.AddAttributeError(at, summary, detail)
		}
	}
	return diags
}
