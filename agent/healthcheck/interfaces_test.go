package healthcheck_test

import (
	"github.com/lvs-provider/terraform-provider-lvs/agent/healthcheck"
	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
)

var (
	_ reconcile.Reconciler     = (*healthcheck.Manager)(nil)
	_ reconcile.StatusReporter = (*healthcheck.Manager)(nil)
	_ reconcile.Stopper        = (*healthcheck.Manager)(nil)
	_ ipvs.HealthView          = (*healthcheck.Manager)(nil)
	_ ipvs.HealthStatuser      = (*healthcheck.Manager)(nil)
)
