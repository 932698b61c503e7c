// Package provider is the Terraform glue of terraform-provider-lvs: schemas, plan-time
// validation, and CRUD that calls internal/remote. Logic that needs no framework types lives
// outside this package.
package provider

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

var _ provider.Provider = (*lvsProvider)(nil)

// New returns the provider factory for version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &lvsProvider{version: version} }
}

type lvsProvider struct {
	version string
}

// providerModel is the provider block.
type providerModel struct {
	SSH   *sshModel                `tfsdk:"ssh"`
	Hosts map[string]hostOverrides `tfsdk:"hosts"`
}

type sshModel struct {
	User                            types.String  `tfsdk:"user"`
	Port                            types.Int64   `tfsdk:"port"`
	PrivateKey                      types.String  `tfsdk:"private_key"`
	PrivateKeyFile                  types.String  `tfsdk:"private_key_file"`
	PrivateKeyPassphrase            types.String  `tfsdk:"private_key_passphrase"`
	Password                        types.String  `tfsdk:"password"`
	UseAgent                        types.Bool    `tfsdk:"use_agent"`
	KnownHostsFile                  types.String  `tfsdk:"known_hosts_file"`
	HostKey                         types.String  `tfsdk:"host_key"`
	InsecureSkipHostKeyVerification types.Bool    `tfsdk:"insecure_skip_host_key_verification"`
	Timeout                         types.String  `tfsdk:"timeout"`
	Bastion                         *bastionModel `tfsdk:"bastion"`
}

type bastionModel struct {
	Host                            types.String `tfsdk:"host"`
	Port                            types.Int64  `tfsdk:"port"`
	User                            types.String `tfsdk:"user"`
	PrivateKey                      types.String `tfsdk:"private_key"`
	PrivateKeyFile                  types.String `tfsdk:"private_key_file"`
	Password                        types.String `tfsdk:"password"`
	KnownHostsFile                  types.String `tfsdk:"known_hosts_file"`
	HostKey                         types.String `tfsdk:"host_key"`
	InsecureSkipHostKeyVerification types.Bool   `tfsdk:"insecure_skip_host_key_verification"`
}

// hostOverrides are per-host settings; unset fields fall back to the ssh block.
type hostOverrides struct {
	User           types.String `tfsdk:"user"`
	Port           types.Int64  `tfsdk:"port"`
	PrivateKey     types.String `tfsdk:"private_key"`
	PrivateKeyFile types.String `tfsdk:"private_key_file"`
	Password       types.String `tfsdk:"password"`
	KnownHostsFile types.String `tfsdk:"known_hosts_file"`
	HostKey        types.String `tfsdk:"host_key"`
}

func (p *lvsProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "lvs"
	resp.Version = p.version
}

func connectionAttributes(sensitiveNote string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"user":             schema.StringAttribute{Optional: true, MarkdownDescription: "SSH user. Default `root` (env `LVS_SSH_USER`). Other users run the agent's nine root commands through `sudo -n`, so they need the `NOPASSWD` sudoers rule for exactly those commands that the provider documentation gives."},
		"port":             schema.Int64Attribute{Optional: true, MarkdownDescription: "SSH port. Default `22` (env `LVS_SSH_PORT`)."},
		"private_key":      schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Private key in PEM/OpenSSH format (env `LVS_SSH_PRIVATE_KEY`). " + sensitiveNote},
		"private_key_file": schema.StringAttribute{Optional: true, MarkdownDescription: "Path of a private key file, read by the provider (env `LVS_SSH_PRIVATE_KEY_FILE`)."},
		"password":         schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "SSH password (env `LVS_SSH_PASSWORD`), also given to a keyboard-interactive password prompt; other keyboard-interactive prompts (one-time codes) are not supported. " + sensitiveNote},
		"known_hosts_file": schema.StringAttribute{Optional: true, MarkdownDescription: "known_hosts file that host keys are checked against. Default `~/.ssh/known_hosts` (env `LVS_SSH_KNOWN_HOSTS_FILE`)."},
		"host_key":         schema.StringAttribute{Optional: true, MarkdownDescription: "Pinned host public key in authorized_keys format (`ssh-ed25519 AAAA...`), checked instead of `known_hosts_file` (env `LVS_SSH_HOST_KEY`). A pinned key is always checked, even when `insecure_skip_host_key_verification` is set."},
	}
}

func (p *lvsProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	note := "Provider settings are never stored in Terraform state."
	sshAttrs := connectionAttributes(note)
	sshAttrs["private_key_passphrase"] = schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Passphrase of an encrypted private key (env `LVS_SSH_PRIVATE_KEY_PASSPHRASE`)."}
	sshAttrs["use_agent"] = schema.BoolAttribute{Optional: true, MarkdownDescription: "Use the keys of the SSH agent at `SSH_AUTH_SOCK`. Default: true when `SSH_AUTH_SOCK` is set (env `LVS_SSH_USE_AGENT`)."}
	sshAttrs["insecure_skip_host_key_verification"] = schema.BoolAttribute{Optional: true, MarkdownDescription: "**Insecure.** Accept any host key from hosts that have no pinned `host_key`, so anyone on the path can impersonate them. For throwaway labs only; use `known_hosts_file` or `host_key` instead (env `LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION`). A pinned `host_key` is still checked; the bastion is not covered (it has its own setting); every plan and apply that uses it shows a warning naming the hosts and how it was set."}
	sshAttrs["timeout"] = schema.StringAttribute{Optional: true, MarkdownDescription: "Deadline for TCP connect and SSH handshake, as a Go duration. Default `30s` (env `LVS_SSH_TIMEOUT`)."}
	bastion := connectionAttributes(note)
	bastion["host"] = schema.StringAttribute{Required: true, MarkdownDescription: "Address of the jump host (env `LVS_SSH_BASTION_HOST`)."}
	bastion["password"] = schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Password of the bastion login. The `ssh` block's `password` (and `LVS_SSH_PASSWORD`) is never sent to the bastion. " + note}
	bastion["insecure_skip_host_key_verification"] = schema.BoolAttribute{Optional: true, MarkdownDescription: "**Insecure.** Accept any host key from the bastion unless its `host_key` is pinned. Only this setting covers the bastion: the `ssh` block's does not."}
	sshAttrs["bastion"] = schema.SingleNestedAttribute{Optional: true, Attributes: bastion, MarkdownDescription: "Jump host: connections to every host are tunnelled through it, with its own authentication and host-key settings. It never receives the password of the `ssh` block; when it sets none of `private_key`, `private_key_file` and `password` itself, it authenticates with the `ssh` block's private key and SSH agent (public-key authentication shows the bastion no secret). Unset `user` and `known_hosts_file` come from `ssh`; nothing else does."}

	resp.Schema = schema.Schema{
		MarkdownDescription: "Manages LVS clusters — director pairs sharing VIPs by VRRP, IPVS virtual and real servers, health checks — through an agent the provider installs on each host over SSH.",
		Attributes: map[string]schema.Attribute{
			"ssh": schema.SingleNestedAttribute{
				Optional:            true,
				Attributes:          sshAttrs,
				MarkdownDescription: "SSH settings for every host the provider reaches. Host keys are always verified unless `insecure_skip_host_key_verification` is set.",
			},
			"hosts": schema.MapNestedAttribute{
				Optional:            true,
				NestedObject:        schema.NestedAttributeObject{Attributes: connectionAttributes(note)},
				MarkdownDescription: "Per-host overrides of the `ssh` settings, keyed by the host address used in resources.",
			},
		},
	}
}

func (p *lvsProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !configKnown(cfg) {
		// Values computed by other resources: validate again once they are known.
		return
	}
	base, err := baseConfig(cfg.SSH, os.Getenv)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ssh"), "Invalid SSH Settings", err.Error())
		return
	}
	resp.Diagnostics.Append(hostKeyWarnings(cfg, base, os.Getenv)...)
	overrides := cfg.Hosts
	hosts := remote.New(func(addr string) (sshx.Config, error) {
		c := base
		c.Host = addr
		if o, ok := overrides[addr]; ok {
			if err := applyOverrides(&c, o); err != nil {
				return c, fmt.Errorf("provider hosts[%q]: %w", addr, err)
			}
		}
		return c, nil
	})
	hosts.OnDial(func(ctx context.Context, key string, n int) {
		tflog.Info(ctx, "lvs: opened SSH connection", map[string]any{"connection": key, "count": n})
	})
	hosts.OnSession(func(ctx context.Context, addr string, n int) {
		tflog.Info(ctx, "lvs: opened agent session", map[string]any{"host": addr, "count": n})
	})
	resp.ResourceData = hosts
	resp.DataSourceData = hosts
}

func configKnown(cfg providerModel) bool {
	if s := cfg.SSH; s != nil {
		for _, v := range []interface{ IsUnknown() bool }{s.User, s.Port, s.PrivateKey, s.PrivateKeyFile, s.PrivateKeyPassphrase, s.Password, s.UseAgent, s.KnownHostsFile, s.HostKey, s.InsecureSkipHostKeyVerification, s.Timeout} {
			if v.IsUnknown() {
				return false
			}
		}
	}
	return true
}

// baseConfig merges the ssh block over LVS_* environment variables.
func baseConfig(s *sshModel, getenv func(string) string) (sshx.Config, error) {
	if s == nil {
		s = &sshModel{}
	}
	str := func(v types.String, env string) string {
		if !v.IsNull() {
			return v.ValueString()
		}
		return getenv(env)
	}
	var c sshx.Config
	c.User = str(s.User, "LVS_SSH_USER")
	port, err := intSetting(s.Port, getenv("LVS_SSH_PORT"), "port")
	if err != nil {
		return c, err
	}
	c.Port = port
	key, err := keyText(str(s.PrivateKey, "LVS_SSH_PRIVATE_KEY"), str(s.PrivateKeyFile, "LVS_SSH_PRIVATE_KEY_FILE"))
	if err != nil {
		return c, err
	}
	c.PrivateKey = key
	c.PrivateKeyPassphrase = str(s.PrivateKeyPassphrase, "LVS_SSH_PRIVATE_KEY_PASSPHRASE")
	c.Password = str(s.Password, "LVS_SSH_PASSWORD")
	c.KnownHostsFile = str(s.KnownHostsFile, "LVS_SSH_KNOWN_HOSTS_FILE")
	c.HostKey = str(s.HostKey, "LVS_SSH_HOST_KEY")
	c.UseAgent, err = boolSetting(s.UseAgent, getenv("LVS_SSH_USE_AGENT"), getenv("SSH_AUTH_SOCK") != "", "use_agent")
	if err != nil {
		return c, err
	}
	c.InsecureSkipHostKeyVerification, err = boolSetting(s.InsecureSkipHostKeyVerification, getenv("LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION"), false, "insecure_skip_host_key_verification")
	if err != nil {
		return c, err
	}
	if t := str(s.Timeout, "LVS_SSH_TIMEOUT"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("timeout %q is not a positive duration such as \"30s\"", t)
		}
		c.Timeout = d
	}
	if b := s.Bastion; b != nil || getenv("LVS_SSH_BASTION_HOST") != "" {
		if b == nil {
			b = &bastionModel{}
		}
		// The bastion gets none of the hosts' secrets: never their password, which a bastion that
		// refuses keys would otherwise be sent in the clear. With no credential of its own it
		// uses the hosts' private key and agent: public-key authentication reveals no secret.
		bc := sshx.Config{User: c.User, Timeout: c.Timeout}
		if b.PrivateKey.IsNull() && b.PrivateKeyFile.IsNull() && b.Password.IsNull() {
			bc.PrivateKey, bc.UseAgent = c.PrivateKey, c.UseAgent
		}
		bc.Host = str(b.Host, "LVS_SSH_BASTION_HOST")
		if err := applyOverrides(&bc, hostOverrides{User: b.User, Port: b.Port, PrivateKey: b.PrivateKey, PrivateKeyFile: b.PrivateKeyFile, Password: b.Password, KnownHostsFile: b.KnownHostsFile, HostKey: b.HostKey}); err != nil {
			return c, fmt.Errorf("bastion: %w", err)
		}
		if bc.KnownHostsFile == "" {
			bc.KnownHostsFile = c.KnownHostsFile
		}
		// Only the bastion's own setting skips its host key check, never the ssh block's.
		bc.InsecureSkipHostKeyVerification = b.InsecureSkipHostKeyVerification.ValueBool()
		if bc.PrivateKey == "" && bc.Password == "" && !bc.UseAgent {
			return c, fmt.Errorf("bastion: no SSH authentication configured for the bastion: set bastion.private_key, " +
				"bastion.private_key_file or bastion.password (the ssh block's password is never sent to the bastion)")
		}
		c.Bastion = &bc
	}
	if c.PrivateKey == "" && c.Password == "" && !c.UseAgent {
		return c, fmt.Errorf("no SSH authentication configured: set ssh.private_key or ssh.private_key_file, ssh.password, or run an SSH agent (SSH_AUTH_SOCK)")
	}
	return c, nil
}

// hostKeyWarnings warns, in every plan and apply, about each hop whose host key is not verified:
// how insecure_skip_host_key_verification was set, which hosts it covers and which pinned hosts
// are still checked.
func hostKeyWarnings(cfg providerModel, base sshx.Config, getenv func(string) string) diag.Diagnostics {
	var diags diag.Diagnostics
	if base.InsecureSkipHostKeyVerification {
		how := "insecure_skip_host_key_verification = true is set in the provider's ssh block"
		if cfg.SSH == nil || cfg.SSH.InsecureSkipHostKeyVerification.IsNull() {
			how = fmt.Sprintf("the environment variable LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION=%s turns on "+
				"insecure_skip_host_key_verification (the provider configuration does not set it)",
				getenv("LVS_SSH_INSECURE_SKIP_HOST_KEY_VERIFICATION"))
		}
		var skipped, pinned []string
		for _, addr := range slices.Sorted(maps.Keys(cfg.Hosts)) {
			key := base.HostKey
			if o := cfg.Hosts[addr]; !o.HostKey.IsNull() {
				key = o.HostKey.ValueString()
			}
			if strings.TrimSpace(key) != "" {
				pinned = append(pinned, addr)
			} else {
				skipped = append(skipped, addr)
			}
		}
		var which string
		if strings.TrimSpace(base.HostKey) == "" {
			which = "every host the resources name"
			if len(pinned) > 0 {
				which += " except " + strings.Join(pinned, ", ") + " (pinned by hosts[...].host_key, still verified)"
			}
		} else {
			which = "no host but those of the provider's hosts block that clear host_key: every other host is pinned by ssh.host_key and still verified"
			if len(skipped) > 0 {
				which = strings.Join(skipped, ", ") + " (their hosts[...] entry clears host_key); every other host is pinned by ssh.host_key and still verified"
			}
		}
		detail := fmt.Sprintf("SSH host keys are not verified: %s. It covers %s. Anyone on the network path to "+
			"those hosts can impersonate them and receive the commands the provider runs as root. "+
			"Use known_hosts_file or host_key instead; this setting is for throwaway labs only.", how, which)
		if b := base.Bastion; b != nil {
			detail += fmt.Sprintf(" The bastion %s is not covered: its host key is checked with its own settings.", b.Host)
		}
		diags.AddAttributeWarning(path.Root("ssh").AtName("insecure_skip_host_key_verification"),
			"SSH Host Key Verification Disabled", detail)
	}
	if b := base.Bastion; b != nil && b.InsecureSkipHostKeyVerification {
		detail := fmt.Sprintf("bastion.insecure_skip_host_key_verification = true is set: the host key of the bastion %s is not verified, "+
			"so anyone on the path to it can impersonate it and see every connection tunnelled through it. "+
			"Use bastion.known_hosts_file or bastion.host_key instead.", b.Host)
		if strings.TrimSpace(b.HostKey) != "" {
			detail = fmt.Sprintf("bastion.insecure_skip_host_key_verification = true is set, but the bastion %s has a pinned "+
				"host_key, which is still verified: the setting has no effect; remove it.", b.Host)
		}
		diags.AddAttributeWarning(path.Root("ssh").AtName("bastion").AtName("insecure_skip_host_key_verification"),
			"SSH Host Key Verification Disabled For The Bastion", detail)
	}
	return diags
}

func applyOverrides(c *sshx.Config, o hostOverrides) error {
	if !o.User.IsNull() {
		c.User = o.User.ValueString()
	}
	if !o.Port.IsNull() {
		p := o.Port.ValueInt64()
		if p < 1 || p > 65535 {
			return fmt.Errorf("port %d is outside 1-65535", p)
		}
		c.Port = int(p)
	}
	if !o.PrivateKey.IsNull() || !o.PrivateKeyFile.IsNull() {
		key, err := keyText(o.PrivateKey.ValueString(), o.PrivateKeyFile.ValueString())
		if err != nil {
			return err
		}
		c.PrivateKey = key
	}
	if !o.Password.IsNull() {
		c.Password = o.Password.ValueString()
	}
	if !o.KnownHostsFile.IsNull() {
		c.KnownHostsFile = o.KnownHostsFile.ValueString()
	}
	if !o.HostKey.IsNull() {
		c.HostKey = o.HostKey.ValueString()
	}
	return nil
}

func keyText(key, file string) (string, error) {
	if key != "" && file != "" {
		return "", fmt.Errorf("set private_key or private_key_file, not both")
	}
	if file == "" {
		return key, nil
	}
	b, err := os.ReadFile(expandHome(file))
	if err != nil {
		return "", fmt.Errorf("private_key_file: %w", err)
	}
	return string(b), nil
}

func expandHome(p string) string {
	if len(p) > 1 && p[:2] == "~/" {
		if h, err := os.UserHomeDir(); err == nil {
			return h + p[1:]
		}
	}
	return p
}

func intSetting(v types.Int64, env, name string) (int, error) {
	if !v.IsNull() {
		n := v.ValueInt64()
		if n < 1 || n > 65535 {
			return 0, fmt.Errorf("%s %d is outside 1-65535", name, n)
		}
		return int(n), nil
	}
	if env == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(env)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("environment %s=%q is not a port 1-65535", "LVS_SSH_PORT", env)
	}
	return n, nil
}

func boolSetting(v types.Bool, env string, def bool, name string) (bool, error) {
	if !v.IsNull() {
		return v.ValueBool(), nil
	}
	if env == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(env)
	if err != nil {
		return false, fmt.Errorf("environment variable for %s=%q is not true or false", name, env)
	}
	return b, nil
}

func (p *lvsProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewDirectorPairResource,
		NewVIPResource,
		NewVirtualServerResource,
		NewRealServerResource,
	}
}

func (p *lvsProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewDirectorStatusDataSource,
	}
}
