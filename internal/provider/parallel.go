package provider

import (
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// runOnHosts runs fn on every host at once and returns each host's error, in the hosts' order,
// so that the diagnostics made of them come in the same order every time. A director run by
// keepalived is no error: what fn did not do there is not the provider's to do (see migrate.go).
func runOnHosts(hosts []string, fn func(i int, host string) error) []error {
	errs := make([]error, len(hosts))
	done := make(chan struct{}, len(hosts))
	for i, h := range hosts {
		go func() {
			errs[i] = skipKeepalived(fn(i, h))
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

// skipKeepalived drops the error of an agent call to a director run by keepalived.
func skipKeepalived(err error) error {
	if errors.Is(err, remote.ErrRunByKeepalived) {
		return nil
	}
	return err
}
