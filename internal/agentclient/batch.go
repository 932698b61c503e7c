package agentclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Writes are batched. Terraform creates a thousand real servers ten at a time, and each write on
// its own costs a round trip through SSH and dial-stdio and a commit on the agent. A write sent
// while none is under way goes at once, on its own; writes that come meanwhile wait for it and
// then go together in one request to agentapi.PathBatch, which the agent commits together. Each
// caller still gets its own answer. An agent without the batch path gets them one by one.

// batchTimeout bounds one batch; a caller whose context ends stops waiting earlier.
const batchTimeout = 5 * time.Minute

type batcher struct {
	mu       sync.Mutex // guards the following fields
	queue    []*queuedWrite
	sending  bool // a goroutine is sending the queue
	disabled bool // the agent has no batch path
}

type queuedWrite struct {
	ctx  context.Context
	item agentapi.BatchItem
	done chan writeAnswer // buffered: the sender never waits for the caller
}

type writeAnswer struct {
	status int
	body   []byte
	err    error
}

func batchItem(method, path string, hdr http.Header, body []byte) agentapi.BatchItem {
	it := agentapi.BatchItem{Method: method, Path: path, Body: body}
	for k, v := range hdr {
		if len(v) > 0 {
			if it.Header == nil {
				it.Header = map[string]string{}
			}
			it.Header[k] = v[0]
		}
	}
	return it
}

// submit sends a write, batched with concurrent ones, and returns its own answer.
func (c *Client) submit(ctx context.Context, it agentapi.BatchItem) (int, []byte, error) {
	started := time.Now()
	q := &queuedWrite{ctx: ctx, item: it, done: make(chan writeAnswer, 1)}
	b := &c.batch
	b.mu.Lock()
	b.queue = append(b.queue, q)
	if !b.sending {
		b.sending = true
		go c.sendQueued()
	}
	b.mu.Unlock()
	select {
	case a := <-q.done:
		return a.status, a.body, a.err
	case <-ctx.Done():
		return 0, nil, timeoutError(ctx, c.host, it.Method+" "+it.Path, started)
	}
}

// sendQueued sends the queue until it is empty; one runs at a time per client.
func (c *Client) sendQueued() {
	b := &c.batch
	for {
		b.mu.Lock()
		n := min(len(b.queue), agentapi.MaxBatch)
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		if n == 0 {
			b.queue = nil
			b.sending = false
			b.mu.Unlock()
			return
		}
		disabled := b.disabled
		b.mu.Unlock()
		batch = c.dropAbandoned(batch)
		if len(batch) == 0 {
			continue
		}
		if len(batch) == 1 || disabled || !c.sendBatch(batch) {
			c.sendEach(batch)
		}
	}
}

// dropAbandoned answers the writes whose caller stopped waiting, which are then not sent, and
// returns the others.
func (c *Client) dropAbandoned(batch []*queuedWrite) []*queuedWrite {
	keep := batch[:0:0]
	for _, q := range batch {
		if err := q.ctx.Err(); err != nil {
			q.done <- writeAnswer{err: &TransportError{Host: c.host, Err: err}}
			continue
		}
		keep = append(keep, q)
	}
	return keep
}

// sendEach sends writes one request each, concurrently.
func (c *Client) sendEach(batch []*queuedWrite) {
	var wg sync.WaitGroup
	for _, q := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(q.item.Body)
			if len(body) == 0 {
				body = nil
			}
			var hdr http.Header
			for k, v := range q.item.Header {
				if hdr == nil {
					hdr = http.Header{}
				}
				hdr.Set(k, v)
			}
			status, answer, err := c.roundTrip(q.ctx, q.item.Method, q.item.Path, hdr, body)
			q.done <- writeAnswer{status, answer, err}
		}()
	}
	wg.Wait()
}

// sendBatch sends writes as one batch and answers each. It returns false, having answered none,
// when the agent has no batch path: the caller then sends them one by one.
func (c *Client) sendBatch(batch []*queuedWrite) bool {
	// The batch serves several callers: no one caller's context may cancel it.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	req := agentapi.BatchRequest{Requests: make([]agentapi.BatchItem, len(batch))}
	for i, q := range batch {
		req.Requests[i] = q.item
	}
	body, err := json.Marshal(req)
	if err != nil {
		answerAll(batch, writeAnswer{err: fmt.Errorf("encode batch: %w", err)})
		return true
	}
	status, answer, err := c.roundTrip(ctx, http.MethodPost, agentapi.PathBatch, nil, body)
	if err != nil {
		answerAll(batch, writeAnswer{err: err})
		return true
	}
	if status == http.StatusNotFound {
		var ae agentapi.Error
		if json.Unmarshal(answer, &ae) == nil && errors.Is(&ae, agentapi.ErrNotFound) {
			c.batch.mu.Lock()
			c.batch.disabled = true
			c.batch.mu.Unlock()
			return false
		}
	}
	var res agentapi.BatchResponse
	if status != http.StatusOK {
		// The batch itself was refused: each write gets that answer.
		answerAll(batch, writeAnswer{status: status, body: answer})
		return true
	}
	if err := json.Unmarshal(answer, &res); err != nil || len(res.Responses) != len(batch) {
		answerAll(batch, writeAnswer{err: &TransportError{Host: c.host, Err: fmt.Errorf("bad batch answer (%d results for %d writes): %v", len(res.Responses), len(batch), err)}})
		return true
	}
	for i, q := range batch {
		q.done <- writeAnswer{status: res.Responses[i].Status, body: res.Responses[i].Body}
	}
	return true
}

func answerAll(batch []*queuedWrite, a writeAnswer) {
	for _, q := range batch {
		q.done <- a
	}
}
