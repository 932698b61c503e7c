package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The lab's web tools stand in for nginx on real servers and curl on the client, so that tests
// and the demo need nothing beyond the machine's own files: `lab serve` and `lab fetch` run on
// lab hosts (with `lab exec` or Host.Exec), as the lab binary is visible inside every host.

// Serve answers HTTP on addr until ctx ends: "/" with "NAME\n", "/healthz" with "ok\n". These
// answers close their connection, so each request is a new connection for IPVS to schedule.
// "/keep" answers "NAME\n" too but keeps the connection open (HTTP/1.1 keep-alive), for Hold.
// "/hang" answers only after a minute (or when ctx ends), for health checks that must time out.
func Serve(ctx context.Context, addr, name string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveOn(ctx, ln, name)
}

// ServeTLS is Serve over TLS with a fresh self-signed certificate for name (also its DNS SAN),
// for https health checks.
func ServeTLS(ctx context.Context, addr, name string) error {
	cert, err := selfSigned(name)
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return serveOn(ctx, ln, name)
}

func serveOn(ctx context.Context, ln net.Listener, name string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		_, _ = io.WriteString(w, name+"\n")
	})
	mux.HandleFunc("/keep", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name+"\n")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, name+"\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Fetch makes n GET requests to url one after the other, each on a new connection with a
// bounded time, and counts the first line of the answers ("error: ..." for failures).
func Fetch(ctx context.Context, url string, n int, timeout time.Duration) map[string]int {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	counts := map[string]int{}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		counts[fetchOne(ctx, client, url)]++
	}
	return counts
}

func fetchOne(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "error: " + err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return "error: " + errorKind(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("error: status %d", resp.StatusCode)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

// errorKind names a failed request's cause in a word or two, so that counts of answers stay
// few and readable: "timeout", "refused", "reset", or the error itself.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	}
	return err.Error()
}

// Errors sums the failed requests of a Fetch result (its "error: ..." answers).
func Errors(counts map[string]int) int {
	n := 0
	for k, c := range counts {
		if strings.HasPrefix(k, "error") {
			n += c
		}
	}
	return n
}

// ProbeResult is what Probe saw.
type ProbeResult struct {
	Scheduled int            `json:"scheduled"` // requests the schedule called for: duration / interval
	Requests  int            `json:"requests"`  // requests sent
	Failed    int            `json:"failed"`
	Answers   map[string]int `json:"answers"`
	// LongestGapMS is the longest outage: from the send time of the last answered request
	// before a run of failed ones to that of the first answered one after it. 0 when no
	// request failed. GapFailed is the number of failed requests in it.
	LongestGapMS float64 `json:"longest_gap_ms"`
	GapFailed    int     `json:"gap_failed"`
	FirstGapAt   string  `json:"first_gap_at,omitempty"`
	// GapErrorMS bounds how far LongestGapMS can be from the true outage: the outage began
	// between the last answered send and the next send, and ended between the last failed send
	// and the first answered one, so it is the sum of those two pauses between sends.
	GapErrorMS float64 `json:"gap_error_ms"`
	// MaxSendPauseMS is the longest time between two consecutive sends.
	MaxSendPauseMS float64 `json:"max_send_pause_ms"`
	// Failures lists the first few failed requests: send time and answer, for a timeline.
	Failures []string `json:"failures,omitempty"`
	// Behind is set when the prober was not run in time (a starved CPU) where it matters:
	// GapErrorMS exceeds ProbeMaxPause(interval), or requests were not all sent. LongestGapMS
	// then measures the machine, not the VIP.
	Behind bool `json:"behind"`
}

// ProbeMaxPause is the longest pause between two sends for which Probe still trusts its gap:
// ten intervals, at least 50 ms.
func ProbeMaxPause(interval time.Duration) time.Duration {
	return max(10*interval, 50*time.Millisecond)
}

// Probe sends a request to url every interval for duration, each on a new connection bounded by
// timeout, on a fixed schedule: a request is sent at its time whether or not earlier ones have
// answered, so a slow or failing VIP does not slow the probe down (a probe that waited for each
// answer would send a few requests in an outage and call the outage its own timeouts). It
// reports the longest outage a client saw and how well the prober kept its schedule.
func Probe(ctx context.Context, url string, duration, interval, timeout time.Duration) ProbeResult {
	return ProbeUntil(ctx, url, duration, interval, timeout, nil)
}

// ProbeUntil is Probe that also ends early, as if its duration were up, when stop is closed: for
// a probe across an operation of unknown length.
func ProbeUntil(ctx context.Context, url string, duration, interval, timeout time.Duration, stop <-chan struct{}) ProbeResult {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	n := int(duration / interval)
	type sent struct {
		at  time.Time
		ans string
	}
	results := make([]sent, n)
	var wg sync.WaitGroup
	start := time.Now()
	sends := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if stopped(stop) {
			n = i
			break
		}
		results[i].at = time.Now()
		sends++
		wg.Add(1)
		go func(r *sent) {
			defer wg.Done()
			r.ans = fetchOne(ctx, client, url)
		}(&results[i])
	}
	wg.Wait()
	res := ProbeResult{Scheduled: n, Requests: sends, Answers: map[string]int{}}
	results = results[:sends]
	lastOK := -1 // index of the last answered request
	failing := 0 // failed requests since lastOK
	for i, r := range results[:sends] {
		res.Answers[r.ans]++
		if i > 0 {
			if p := ms(r.at.Sub(results[i-1].at)); p > res.MaxSendPauseMS {
				res.MaxSendPauseMS = p
			}
		}
		if strings.HasPrefix(r.ans, "error") {
			if len(res.Failures) < 20 {
				res.Failures = append(res.Failures, r.at.Format("15:04:05.000")+" "+r.ans)
			}
			res.Failed++
			failing++
			continue
		}
		if failing > 0 && lastOK >= 0 {
			if gap := ms(r.at.Sub(results[lastOK].at)); gap > res.LongestGapMS {
				res.LongestGapMS, res.GapFailed = gap, failing
				res.FirstGapAt = results[lastOK].at.Format(time.RFC3339Nano)
				res.GapErrorMS = ms(results[lastOK+1].at.Sub(results[lastOK].at) + r.at.Sub(results[i-1].at))
			}
		}
		lastOK, failing = i, 0
	}
	res.Behind = res.GapErrorMS > ms(ProbeMaxPause(interval)) || sends < n
	return res
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// HoldResult is what Hold saw.
type HoldResult struct {
	Requests     int            `json:"requests"`
	Failed       int            `json:"failed"`
	Answers      map[string]int `json:"answers"`
	Dials        int            `json:"dials"`            // TCP connections opened: 1 if the first one lasted throughout
	Conns        []string       `json:"conns"`            // local address of each connection, in order
	Errors       []string       `json:"errors,omitempty"` // the first few failures, with their time
	LongestGapMS float64        `json:"longest_gap_ms"`   // longest time between two successful answers
	GapEndedAt   string         `json:"gap_ended_at,omitempty"`
}

// Hold keeps one HTTP keep-alive connection to url for duration and sends a GET on it every
// interval (each bounded by timeout), counting the connections it had to open: a connection
// that survives what happens in between (a director failing over) is dialled once. A request
// that fails makes the next one dial again, as any keep-alive client would. Dials, not Failed,
// tells whether the connection survived: when a kept connection is reset, net/http retries the
// (idempotent) GET on a new connection by itself, so the request does not count as failed.
func Hold(ctx context.Context, url string, duration, interval, timeout time.Duration) HoldResult {
	res := HoldResult{Answers: map[string]int{}, Conns: []string{}}
	var mu sync.Mutex
	dialer := &net.Dialer{Timeout: timeout}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			mu.Lock()
			defer mu.Unlock()
			res.Dials++
			if err == nil {
				res.Conns = append(res.Conns, c.LocalAddr().String())
			}
			return c, err
		},
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     duration + time.Minute,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: timeout, Transport: transport}
	var lastOK time.Time
	end := time.Now().Add(duration)
	for time.Now().Before(end) && ctx.Err() == nil {
		start := time.Now()
		ans, err := holdOne(ctx, client, url)
		res.Requests++
		res.Answers[ans]++
		if err != nil {
			res.Failed++
			if len(res.Errors) < 10 {
				res.Errors = append(res.Errors, start.Format("15:04:05.000")+" "+err.Error())
			}
		} else {
			now := time.Now()
			if !lastOK.IsZero() {
				if gap := float64(now.Sub(lastOK).Microseconds()) / 1000; gap > res.LongestGapMS {
					res.LongestGapMS = gap
					res.GapEndedAt = now.Format(time.RFC3339Nano)
				}
			}
			lastOK = now
		}
		if d := interval - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return res
}

// holdOne is fetchOne that also says why a request failed.
func holdOne(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "error", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "error", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "error", err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("error: status %d", resp.StatusCode), fmt.Errorf("status %d", resp.StatusCode)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// selfSigned makes a throwaway certificate for name, valid for a day.
func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
