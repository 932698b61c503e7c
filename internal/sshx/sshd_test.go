package sshx_test

// The tests' real sshd comes from sshdtest, which agentinstall's tests share; these short names
// keep the tests readable.

import "github.com/lvs-provider/terraform-provider-lvs/internal/sshx/sshdtest"

type (
	keyPair = sshdtest.KeyPair
	sshd    = sshdtest.Server
)

const testUserPassword = sshdtest.TestUserPassword

var (
	clientKey       = sshdtest.ClientKey
	newEd25519      = sshdtest.NewEd25519
	startSSHD       = sshdtest.Start
	startSSHDPath   = sshdtest.StartPath
	requireSSHD     = sshdtest.Require
	requireTestUser = sshdtest.RequireTestUser
	removeTestUser  = sshdtest.RemoveTestUser
	startAgent      = sshdtest.StartAgent
	signalChildren  = sshdtest.SignalChildren
	freePort        = sshdtest.FreePort
)
