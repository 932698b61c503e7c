package remote

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentinstall"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
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

// TestDescribeSudoQuotesRule: a sudo refusal from an agent stream (dial-stdio) is reported with
// the exact sudoers rule the provider needs.
func TestDescribeSudoQuotesRule(t *testing.T) {
	t.Parallel()
	se := &sshx.SudoError{User: "deploy", Host: "deploy@198.51.100.11:22", Reason: sshx.ErrSudoPassword, Err: &sshx.CommandError{}}
	err := fmt.Errorf("agent on 198.51.100.11: %w", &agentclient.TransportError{Host: "198.51.100.11", Err: se})
	summary, detail := Describe("198.51.100.11", err)
	if summary != "Sudo Not Usable" || !strings.Contains(detail, agentinstall.SudoersRule("deploy")) {
		t.Fatalf("%q: %q; want the rule quoted", summary, detail)
	}
	if got := SSHFailure(err); got == nil || !strings.Contains(got.Error(), agentinstall.SudoersRule("deploy")) {
		t.Fatalf("SSHFailure = %v; want the rule quoted", got)
	}
}

// TestDescribeStateCorrupt: an agent that cannot read its state says so, and the detail carries
// the agent's recovery instructions.
func TestDescribeStateCorrupt(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("put pair: %w", &agentapi.Error{Code: agentapi.CodeStateCorrupt, Message: "state file corrupt; run lvs-agent state import --from-peer"})
	summary, detail := Describe("198.51.100.11", err)
	if summary != "Agent State Corrupt" || !strings.Contains(detail, "198.51.100.11") || !strings.Contains(detail, "state import --from-peer") {
		t.Fatalf("%q: %q", summary, detail)
	}
}
