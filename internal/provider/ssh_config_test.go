package provider

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx/sshdtest"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// nullSSH is an ssh block with every attribute unset.
func nullSSH() *sshModel {
	return &sshModel{
		User: types.StringNull(), Port: types.Int64Null(), PrivateKey: types.StringNull(),
		PrivateKeyFile: types.StringNull(), PrivateKeyPassphrase: types.StringNull(), Password: types.StringNull(),
		UseAgent: types.BoolNull(), KnownHostsFile: types.StringNull(), HostKey: types.StringNull(),
		InsecureSkipHostKeyVerification: types.BoolNull(), Timeout: types.StringNull(),
	}
}

func nullBastion(host string) *bastionModel {
	return &bastionModel{
		Host: types.StringValue(host), Port: types.Int64Null(), User: types.StringNull(), PrivateKey: types.StringNull(),
		PrivateKeyFile: types.StringNull(), Password: types.StringNull(), KnownHostsFile: types.StringNull(),
		HostKey: types.StringNull(), InsecureSkipHostKeyVerification: types.BoolNull(),
	}
}

func nullHost() hostOverrides {
	return hostOverrides{User: types.StringNull(), Port: types.Int64Null(), PrivateKey: types.StringNull(),
		PrivateKeyFile: types.StringNull(), Password: types.StringNull(), KnownHostsFile: types.StringNull(), HostKey: types.StringNull()}
}

// warningsFor runs what Configure runs on a provider block: baseConfig, then hostKeyWarnings.
func warningsFor(t *testing.T, cfg providerModel, env map[string]string) diag.Diagnostics {
	t.Helper()
	base, err := baseConfig(cfg.SSH, envOf(env))
	if err != nil {
		t.Fatalf("baseConfig: %v", err)
	}
	d := hostKeyWarnings(cfg, base, envOf(env))
	for _, w := range d {
		if w.Severity() != diag.SeverityWarning {
			t.Fatalf("not a warning: %v", w)
		}
	}
	return d
}

// TestHostKeyWarnings: insecure_skip_host_key_verification, however it is set, warns in every
// Configure (so in every plan and apply), says how it was set and which hosts it covers.
func TestHostKeyWarnings(t *testing.T) {
	const pin = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	const key = "not parsed here"
	withSkip := func(v types.Bool) *sshModel {
		s := nullSSH()
		s.PrivateKey, s.InsecureSkipHostKeyVerification = types.StringValue(key), v
		return s
	}
	pinnedHost := nullHost()
	pinnedHost.HostKey = types.StringValue(pin)
	clearedHost := nullHost()
	clearedHost.HostKey = types.StringValue("")

	tests := []struct {
		name string
		cfg  providerModel
		env  map[string]string
		want [][]string // per warning, the words its detail must hold
	}{
		{name: "not set", cfg: providerModel{SSH: withSkip(types.BoolNull())}},
		{name: "set false", cfg: providerModel{SSH: withSkip(types.BoolValue(false))},
			env: map[string]string{"LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION": "true"}},
		{name: "in the ssh block", cfg: providerModel{SSH: withSkip(types.BoolValue(true)),
			Hosts: map[string]hostOverrides{"198.51.100.12": pinnedHost, "198.51.100.11": nullHost()}},
			want: [][]string{{"set in the provider's ssh block", "every host the resources name except 198.51.100.12", "still verified"}}},
		{name: "by environment variable alone", cfg: providerModel{SSH: withSkip(types.BoolNull())},
			env:  map[string]string{"LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION": "1"},
			want: [][]string{{"environment variable LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION=1", "does not set it", "every host the resources name"}}},
		{name: "no ssh block, environment only", cfg: providerModel{},
			env:  map[string]string{"LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION": "true", "LVS_SSH_PRIVATE_KEY": key},
			want: [][]string{{"LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION=true"}}},
		{name: "ssh.host_key pins every host but one", cfg: func() providerModel {
			s := withSkip(types.BoolValue(true))
			s.HostKey = types.StringValue(pin)
			return providerModel{SSH: s, Hosts: map[string]hostOverrides{"198.51.100.13": clearedHost}}
		}(), want: [][]string{{"It covers 198.51.100.13", "pinned by ssh.host_key and still verified"}}},
		{name: "the ssh block's skip does not cover the bastion", cfg: func() providerModel {
			s := withSkip(types.BoolValue(true))
			s.Bastion = nullBastion("192.0.2.1")
			return providerModel{SSH: s}
		}(), want: [][]string{{"The bastion 192.0.2.1 is not covered"}}},
		{name: "the bastion's own skip", cfg: func() providerModel {
			s := withSkip(types.BoolNull())
			s.Bastion = nullBastion("192.0.2.1")
			s.Bastion.InsecureSkipHostKeyVerification = types.BoolValue(true)
			return providerModel{SSH: s}
		}(), want: [][]string{{"bastion.insecure_skip_host_key_verification = true", "bastion 192.0.2.1 is not verified"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := warningsFor(t, tt.cfg, tt.env)
			if len(d) != len(tt.want) {
				t.Fatalf("%d diagnostics, want %d: %v", len(d), len(tt.want), d)
			}
			for i, words := range tt.want {
				for _, w := range words {
					if !strings.Contains(d[i].Detail(), w) {
						t.Errorf("warning %q lacks %q", d[i].Detail(), w)
					}
				}
			}
		})
	}
}

// TestBastionSettings: the bastion never inherits the hosts' password nor their
// insecure_skip_host_key_verification.
func TestBastionSettings(t *testing.T) {
	ssh := func() *sshModel {
		s := nullSSH()
		s.PrivateKey, s.Password = types.StringValue("hosts-key"), types.StringValue("hosts-password")
		s.InsecureSkipHostKeyVerification = types.BoolValue(true)
		s.Bastion = nullBastion("192.0.2.1")
		return s
	}
	env := envOf(map[string]string{"SSH_AUTH_SOCK": "/agent.sock"})

	c, err := baseConfig(ssh(), env)
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Bastion; b.Password != "" || b.InsecureSkipHostKeyVerification || b.PrivateKey != "hosts-key" || !b.UseAgent {
		t.Fatalf("bastion without credentials of its own = %+v; want the hosts' key and agent, no password, no skip", b)
	}

	s := ssh()
	s.Bastion.Password = types.StringValue("bastion-password")
	s.Bastion.InsecureSkipHostKeyVerification = types.BoolValue(true)
	if c, err = baseConfig(s, env); err != nil {
		t.Fatal(err)
	}
	if b := c.Bastion; b.Password != "bastion-password" || b.PrivateKey != "" || b.UseAgent || !b.InsecureSkipHostKeyVerification {
		t.Fatalf("bastion with its own password = %+v; want only that password, and its own skip", b)
	}

	s = ssh()
	s.PrivateKey = types.StringNull()
	if _, err := baseConfig(s, envOf(nil)); err == nil || !strings.Contains(err.Error(), "never sent to the bastion") {
		t.Fatalf("hosts with a password only, bastion without credentials: err = %v, want a bastion auth error", err)
	}
	// Nor from the environment.
	s.Password = types.StringNull()
	if _, err := baseConfig(s, envOf(map[string]string{"LVS_SSH_PASSWORD": "env-password"})); err == nil {
		t.Fatal("LVS_SSH_PASSWORD reached the bastion")
	}
}

// TestBastionNeverSeesHostPassword runs the provider's settings against two real sshds: a
// bastion that refuses the key it is offered and accepts passwords (as a bastion harvesting
// passwords would) must never be offered the hosts' password; its log shows every password
// attempt ("Failed password for ...").
func TestBastionNeverSeesHostPassword(t *testing.T) {
	t.Parallel()
	target := sshdtest.Start(t)
	bastion := sshdtest.Start(t)
	otherKey := sshdtest.NewEd25519("") // not authorized on the bastion

	settings := func(bastionKey string) sshx.Config {
		s := nullSSH()
		s.PrivateKey = types.StringValue(sshdtest.ClientKey().PEM)
		s.Password = types.StringValue("hosts-password-must-stay-home")
		s.KnownHostsFile = types.StringValue(target.KnownHosts)
		s.Timeout = types.StringValue("10s")
		s.Port = types.Int64Value(int64(target.Port))
		s.Bastion = nullBastion("127.0.0.1")
		s.Bastion.Port = types.Int64Value(int64(bastion.Port))
		s.Bastion.PrivateKey = types.StringValue(bastionKey)
		s.Bastion.KnownHostsFile = types.StringValue(bastion.KnownHosts)
		c, err := baseConfig(s, envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		c.Host = "127.0.0.1"
		return c
	}
	run := func(cfg sshx.Config) error {
		c, err := sshx.Dial(context.Background(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, _, err = c.Run(context.Background(), "true", nil)
		return err
	}

	// The bastion refuses the bastion's key: authentication fails there, with the key only.
	err := run(settings(otherKey.PEM))
	var authErr *sshx.AuthError
	if !errors.As(err, &authErr) || authErr.Addr != bastion.Addr || !slices.Equal(authErr.Methods, []string{"publickey"}) {
		t.Fatalf("err = %v, want *AuthError on the bastion %s having tried publickey only", err, bastion.Addr)
	}
	// The working path: the bastion's key on the bastion, the hosts' credentials on the target.
	if err := run(settings(sshdtest.ClientKey().PEM)); err != nil {
		t.Fatalf("through the bastion: %v", err)
	}
	log := bastion.Log.String()
	if !strings.Contains(log, "Failed publickey") || !strings.Contains(log, "Accepted publickey") {
		t.Fatalf("the bastion's log does not show the attempts it saw:\n%s", log)
	}
	if strings.Contains(log, "password for") {
		t.Fatalf("the hosts' password was offered to the bastion:\n%s", log)
	}
}

// configureWith runs the provider's Configure on a provider block whose ssh block sets the given
// attributes (tftypes values) and leaves every other attribute null.
func configureWith(t *testing.T, sshAttrs map[string]tftypes.Value) diag.Diagnostics {
	t.Helper()
	ctx := context.Background()
	p := New("test")()
	var sr provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &sr)
	typ := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	sshTyp := typ.AttributeTypes["ssh"].(tftypes.Object)
	ssh := map[string]tftypes.Value{}
	for name, at := range sshTyp.AttributeTypes {
		ssh[name] = tftypes.NewValue(at, nil)
	}
	for name, v := range sshAttrs {
		ssh[name] = v
	}
	top := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		top[name] = tftypes.NewValue(at, nil)
	}
	top["ssh"] = tftypes.NewValue(sshTyp, ssh)
	req := provider.ConfigureRequest{Config: tfsdk.Config{Schema: sr.Schema, Raw: tftypes.NewValue(typ, top)}}
	var resp provider.ConfigureResponse
	p.Configure(ctx, req, &resp)
	return resp.Diagnostics
}

// TestConfigureWarnsOnSkip: Configure, which every plan and apply runs, carries the warning,
// for the attribute and for the environment variable alike, and nothing else.
func TestConfigureWarnsOnSkip(t *testing.T) {
	key := tftypes.NewValue(tftypes.String, "unparsed")
	t.Setenv("LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION", "")
	if d := configureWith(t, map[string]tftypes.Value{"private_key": key}); len(d) != 0 {
		t.Fatalf("diagnostics without skip: %v", d)
	}
	d := configureWith(t, map[string]tftypes.Value{"private_key": key,
		"insecure_skip_host_key_verification": tftypes.NewValue(tftypes.Bool, true)})
	if len(d) != 1 || d[0].Severity() != diag.SeverityWarning || !strings.Contains(d[0].Detail(), "ssh block") {
		t.Fatalf("with the attribute: %v, want one warning", d)
	}
	t.Setenv("LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION", "true")
	d = configureWith(t, map[string]tftypes.Value{"private_key": key})
	if len(d) != 1 || d[0].Severity() != diag.SeverityWarning || !strings.Contains(d[0].Detail(), "environment variable LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION=true") {
		t.Fatalf("with the environment variable: %v, want one warning", d)
	}
}
