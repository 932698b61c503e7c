// Command terraform-provider-lvs is the Terraform provider for LVS clusters: director pairs with
// VRRP, IPVS virtual and real servers, and health checks, run by an agent it installs over SSH.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/lvs-provider/terraform-provider-lvs/internal/kaconvert"
	"github.com/lvs-provider/terraform-provider-lvs/internal/provider"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// Generate the docs/ folder from schemas, templates/ and examples/.
//go:generate go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-name lvs

func main() {
	// Not a plugin run: terraform starts the provider without arguments.
	if len(os.Args) > 1 && os.Args[1] == kaconvert.Command {
		os.Exit(kaconvert.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run with support for debuggers like delve")
	flag.Parse()
	quietSDKLogs(os.Getenv, os.Setenv)
	lessGC(os.Getenv("GOGC"))
	defer profileCPU(os.Getenv("LVS_PROVIDER_CPUPROFILE"))()
	err := providerserver.Serve(context.Background(), provider.New(version.Version), providerserver.ServeOpts{
		Address: "registry.terraform.io/lvs-provider/lvs",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// lessGC lets the heap grow to five times the live data between collections (GOGC=400), unless
// the operator set GOGC: every request converts whole resource values between the plugin
// protocol and the framework's types, short-lived garbage that made the collector 28% of the
// provider's CPU in an apply of 1,000 real servers at the default 100, while the live heap stays
// a few tens of MB.
func lessGC(gogc string) {
	if gogc == "" {
		debug.SetGCPercent(400)
	}
}

// profileCPU writes a CPU profile of this provider process to dir/provider-PID.pprof when dir
// is set (LVS_PROVIDER_CPUPROFILE: terraform starts the provider several times per run, each
// its own profile), for finding where a slow plan or apply spends the provider's time; the
// returned function ends it, when terraform has shut the provider down.
func profileCPU(dir string) func() {
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, "provider-"+strconv.Itoa(os.Getpid())+".pprof"))
	if err != nil {
		log.Printf("LVS_PROVIDER_CPUPROFILE: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Printf("LVS_PROVIDER_CPUPROFILE: %v", err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// sdkLogLevelVars are the log levels of the plugin SDK's loggers (terraform-plugin-go, the
// framework) and of this provider's own logger. Unset, each defaults to TRACE: the provider then
// formats a trace line as JSON for every attribute of every request, which terraform throws away
// unless its own log level asks for it. At 1,000 resources that was a seventh of the provider's
// CPU in a plan.
var sdkLogLevelVars = []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER_LVS"}

// quietSDKLogs sets each unset SDK log level to the level terraform shows provider logs at
// (TF_LOG_PROVIDER, else TF_LOG; OFF when neither is set), so that what terraform would drop is
// never formatted. A level the operator set is kept.
func quietSDKLogs(getenv func(string) string, setenv func(string, string) error) {
	level := strings.ToUpper(strings.TrimSpace(getenv("TF_LOG_PROVIDER")))
	if level == "" {
		level = strings.ToUpper(strings.TrimSpace(getenv("TF_LOG")))
	}
	switch level {
	case "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF":
	case "JSON":
		level = "TRACE"
	case "":
		level = "OFF"
	default:
		// Terraform reads an unknown level as TRACE.
		level = "TRACE"
	}
	for _, v := range sdkLogLevelVars {
		if getenv(v) == "" {
			_ = setenv(v, level)
		}
	}
}
