package provider

import (
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

type (
	validatorString = validator.String
	validatorInt64  = validator.Int64
	validatorList   = validator.List
)

var (
	nameRegexp   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	hostRegexp   = regexp.MustCompile(`^[A-Za-z0-9.:_-]+$`)
	ifnameRegexp = regexp.MustCompile(`^[^/:\s]{1,15}$`)
)

// remoteUnreachable matches errors of an agent that did not answer at all.
var remoteUnreachable = agentclient.ErrUnreachable
