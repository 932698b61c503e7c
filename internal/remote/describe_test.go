package remote

import (
	"context"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// TestDescribeInterruptedRequest: a request whose caller gave up is not reported as an agent that
// does not answer, and the operator learns that its write may have landed.
func TestDescribeInterruptedRequest(t *testing.T) {
	t.Parallel()
	for _, cause := range []error{context.Canceled, context.DeadlineExceeded} {
		summary, detail := Describe("198.51.100.11", &agentclient.TransportError{Host: "198.51.100.11", Err: cause})
		if summary != "Agent Request Interrupted" || !strings.Contains(detail, "may still have been applied") {
			t.Errorf("%v: %q: %q", cause, summary, detail)
		}
	}
	summary, _ := Describe("198.51.100.11", &agentclient.TransportError{Host: "198.51.100.11", Err: context.Canceled})
	if summary == "Agent Not Answering" {
		t.Error("an interrupted request read as an agent not answering")
	}
}
