package agentapi

import "encoding/json"

// PathBatch takes several API requests in one (POST a BatchRequest). The agent serves them
// together, so the writes among them share one store write and one apply, and the client pays
// one round trip (over SSH, through dial-stdio) instead of one per request.
const PathBatch = "/v1/batch"

// MaxBatch bounds the requests of one batch.
const MaxBatch = 256

// BatchRequest is the body of a POST to PathBatch.
type BatchRequest struct {
	Requests []BatchItem `json:"requests"`
}

// BatchItem is one request of a batch: what it would be on its own.
type BatchItem struct {
	Method string            `json:"method"`
	Path   string            `json:"path"` // escaped, as on the wire
	Header map[string]string `json:"header,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
}

// BatchResponse answers a BatchRequest: one result per request, in order.
type BatchResponse struct {
	Responses []BatchResult `json:"responses"`
}

// BatchResult is the answer a request of a batch would have had on its own.
type BatchResult struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}
