package healthcheck

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// webHandler answers /ok with 200 "hello world", /status/N with N, /host with the Host it got,
// /sni with the TLS server name, /big with a long body whose end is "needle".
func webHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello world") })
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(r.PathValue("code"), &code)
		w.WriteHeader(code)
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Host) })
	mux.HandleFunc("/sni", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "sni="+r.TLS.ServerName) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 1<<20)+"needle")
	})
	return mux
}

func TestHTTPChecker(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(webHandler())
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tests := []struct {
		name string
		http agentapi.HTTPCheck
		want string // "" passes, else part of the reason
	}{
		{"200 within the default range", agentapi.HTTPCheck{Path: "/ok"}, ""},
		{"503 outside the default range", agentapi.HTTPCheck{Path: "/status/503"}, "http: status 503, expected 200-299"},
		{"404", agentapi.HTTPCheck{Path: "/nothing"}, "http: status 404, expected 200-299"},
		{"a range that includes 503", agentapi.HTTPCheck{Path: "/status/503", ExpectedStatus: []string{"500-503"}}, ""},
		{"a list of codes", agentapi.HTTPCheck{Path: "/status/302", ExpectedStatus: []string{"200", "302"}}, ""},
		{"a list without the code", agentapi.HTTPCheck{Path: "/status/301", ExpectedStatus: []string{"200", "302-399"}}, "http: status 301, expected 200,302-399"},
		{"body matches", agentapi.HTTPCheck{Path: "/ok", ExpectedBody: "hello w.*d"}, ""},
		{"body does not match", agentapi.HTTPCheck{Path: "/ok", ExpectedBody: "^bye"}, `http: body does not match "^bye" (read 11 bytes)`},
		{"only a bounded start of the body is read", agentapi.HTTPCheck{Path: "/big", ExpectedBody: "needle"}, "body does not match"},
		{"Host header", agentapi.HTTPCheck{Path: "/host", Host: "www.example.test", ExpectedBody: `^www\.example\.test$`}, ""},
		{"default Host is the address", agentapi.HTTPCheck{Path: "/host", ExpectedBody: "^" + strings.ReplaceAll(addr, ".", `\.`) + "$"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.http
			wantResult(t, runCheck(t, &agentapi.HealthCheck{Type: "http", HTTP: &h}, addr, 5*time.Second), tt.want)
		})
	}
}

func TestHTTPCheckerConnectFailures(t *testing.T) {
	t.Parallel()
	hc := &agentapi.HealthCheck{Type: "http", HTTP: &agentapi.HTTPCheck{Path: "/"}}
	refused := closedPort(t, "tcp", "127.0.0.1")
	wantResult(t, runCheck(t, hc, refused, 3*time.Second), "http: connect "+refused+": connection refused")

	// A server that accepts and never answers is cut off by the timeout.
	silent := silentServer(t)
	start := time.Now()
	err := runCheck(t, hc, silent, 300*time.Millisecond)
	if err == nil {
		t.Fatal("a silent server passed")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the check hung for %v past its 300ms timeout", took)
	}
}

func TestHTTPSChecker(t *testing.T) {
	t.Parallel()
	// httptest's self-signed certificate is for example.com, 127.0.0.1 and ::1.
	srv := httptest.NewTLSServer(webHandler())
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tests := []struct {
		name  string
		http  agentapi.HTTPCheck
		roots *x509.CertPool
		want  string
	}{
		{"verification off by default accepts a self-signed certificate", agentapi.HTTPCheck{Path: "/ok"}, nil, ""},
		{"verification on rejects it", agentapi.HTTPCheck{Path: "/ok", TLSVerify: true}, nil, "https: TLS handshake with " + addr + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"verification on with the CA trusted and the right name", agentapi.HTTPCheck{Path: "/ok", TLSVerify: true, TLSServerName: "example.com"}, roots, ""},
		{"verification on checks the name", agentapi.HTTPCheck{Path: "/ok", TLSVerify: true, TLSServerName: "wrong.example.test"}, roots, "not wrong.example.test"},
		{"verification of the address when no name is given", agentapi.HTTPCheck{Path: "/ok", TLSVerify: true}, roots, ""},
		{"SNI is sent", agentapi.HTTPCheck{Path: "/sni", TLSServerName: "www.example.test", ExpectedBody: `^sni=www\.example\.test$`}, nil, ""},
		{"SNI defaults to the Host header", agentapi.HTTPCheck{Path: "/sni", Host: "shop.example.test", ExpectedBody: `^sni=shop\.example\.test$`}, nil, ""},
		{"status over TLS", agentapi.HTTPCheck{Path: "/status/500"}, nil, "https: status 500, expected 200-299"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.http
			c, err := buildHTTPChecker(specAt(t, &agentapi.HealthCheck{Type: "https", HTTP: &h}, addr), tt.roots)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			wantResult(t, c.Check(ctx), tt.want)
		})
	}
	// A TLS check against a server that never answers the handshake times out.
	silent := silentServer(t)
	if err := runCheck(t, &agentapi.HealthCheck{Type: "https"}, silent, 300*time.Millisecond); err == nil {
		t.Error("a silent TLS server passed")
	}
}

func TestHTTPCheckerBadConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		http agentapi.HTTPCheck
		want string
	}{
		{agentapi.HTTPCheck{Path: "/a b"}, "health_check.path"},
		{agentapi.HTTPCheck{Path: "/", Host: "a\r\nX: y"}, "health_check.host"},
		{agentapi.HTTPCheck{Path: "/", ExpectedStatus: []string{"299-200"}}, "health_check.expected_status[0]"},
		{agentapi.HTTPCheck{Path: "/", ExpectedBody: "("}, "health_check.expected_body"},
	} {
		h := tt.http
		_, err := newChecker(specAt(t, &agentapi.HealthCheck{Type: "http", HTTP: &h}, "127.0.0.1:80"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want one naming %s", tt.http, err, tt.want)
		}
	}
}

// TestManagerTimeoutReason runs real checks through the Manager: a server that accepts and
// never answers goes down with "timeout after", a working one stays up.
func TestManagerTimeoutReason(t *testing.T) {
	t.Parallel()
	silent := silentServer(t)
	srv := httptest.NewServer(webHandler())
	t.Cleanup(srv.Close)
	m := New(Config{})
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	hc := &agentapi.HealthCheck{Type: "http", IntervalMS: 300, TimeoutMS: 200, Retries: 1, RetryDelayMS: 50, Rise: 1, Fall: 1,
		HTTP: &agentapi.HTTPCheck{Path: "/ok"}}
	st := oneVS("", hc, nil)
	vs := st.VirtualServers[vsKey]
	for _, a := range []string{silent, srv.Listener.Addr().String()} {
		s := specAt(t, hc, a)
		vs.RealServers[s.rsKey] = s.rs
	}
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "silent server down", healthIs(m, silent, StateDown))
	if _, r := m.Health(vsKey, silent); r != "http: timeout after 200ms" {
		t.Errorf("reason %q", r)
	}
	if s, r := m.Health(vsKey, srv.Listener.Addr().String()); s != StateUp {
		t.Errorf("working server %s %q", s, r)
	}
}

func TestReadStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		code int
		err  string
	}{
		{"HTTP/1.1 200 OK\r\n", 200, ""},
		{"HTTP/1.0 503 Service Unavailable\r\n", 503, ""},
		{"HTTP/1.1 204\r\n", 204, ""},
		{"HTTP/1.1 2000 OK\r\n", 0, "not an HTTP/1.x status line"},
		{"SSH-2.0-OpenSSH_9.2\r\n", 0, "not an HTTP/1.x status line"},
		{"HTTP/1.1 20", 0, "connection closed"},
		{"HTTP/1.1 " + strings.Repeat("x", 4000) + "\n", 0, "too long"},
	} {
		code, err := readStatus(bufio.NewReaderSize(strings.NewReader(tt.in), 2048))
		if code != tt.code || (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%.30q: got %d, %v; want %d, %q", tt.in, code, err, tt.code, tt.err)
		}
	}
}
