package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// batch serves the requests of a BatchRequest concurrently through the API's own handler, so
// each is checked and answered exactly as on its own, and the writes among them are stored and
// applied in one commit (see commitGate).
func (s *Server) batch(w http.ResponseWriter, r *http.Request) error {
	var in agentapi.BatchRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if n := len(in.Requests); n == 0 || n > agentapi.MaxBatch {
		return agentapi.Invalid("requests", fmt.Sprintf("%d requests; a batch holds 1-%d", n, agentapi.MaxBatch))
	}
	for i, it := range in.Requests {
		if !strings.HasPrefix(it.Path, "/v1/") || strings.HasPrefix(it.Path, agentapi.PathBatch) {
			return agentapi.Invalid(fmt.Sprintf("requests[%d].path", i), fmt.Sprintf("%q is not an API path other than %s", it.Path, agentapi.PathBatch))
		}
	}
	reqs := make([]*http.Request, len(in.Requests))
	for i, it := range in.Requests {
		req, err := http.NewRequestWithContext(r.Context(), it.Method, it.Path, bytes.NewReader(it.Body))
		if err != nil {
			return agentapi.Invalid(fmt.Sprintf("requests[%d]", i), err.Error())
		}
		for k, v := range it.Header {
			req.Header.Set(k, v)
		}
		req.Header.Set(agentapi.HeaderAPIVersion, r.Header.Get(agentapi.HeaderAPIVersion))
		req.Header.Set(agentapi.HeaderClientVersion, r.Header.Get(agentapi.HeaderClientVersion))
		reqs[i] = req
	}
	out := agentapi.BatchResponse{Responses: make([]agentapi.BatchResult, len(reqs))}
	gate := s.newCommitGate(len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		item := gate.item()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer item.arrive(nil) // answered without a write: no longer holds the others back
			rec := &recorder{header: http.Header{}, code: http.StatusOK, gate: item}
			s.handler().ServeHTTP(rec, req)
			body := bytes.TrimSpace(rec.body.Bytes())
			if len(body) > 0 && !json.Valid(body) {
				// ServeMux's own answers (a redirect to the clean path, 405) are plain text: a
				// RawMessage that is not JSON would fail the whole response's encoding, after
				// its 200 went out.
				body, _ = json.Marshal(string(body))
			}
			out.Responses[i] = agentapi.BatchResult{Status: rec.code, Body: body}
		}()
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// recorder is the http.ResponseWriter of a request of a batch. It carries the request's place
// in the batch's commit gate to the handler's commit (gateOf).
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
	gate   *gateItem
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }
