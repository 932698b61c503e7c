package healthcheck_test

import (
	"github.com/lvs-provider/terraform-provider-lvs/agent/healthcheck"
	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
)

var (
	_ server.Reconciler     = (*healthcheck.Manager)(nil)
	_ server.StatusReporter = (*healthcheck.Manager)(nil)
	_ server.Stopper        = (*healthcheck.Manager)(nil)
	_ ipvs.HealthView       = (*healthcheck.Manager)(nil)
	_ ipvs.HealthStatuser   = (*healthcheck.Manager)(nil)
)
