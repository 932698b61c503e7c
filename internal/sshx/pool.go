package sshx

import (
	"context"
	"errors"
	"sync"
)

// ErrPoolClosed is returned by Get after Close.
var ErrPoolClosed = errors.New("sshx: connection pool is closed")

// Pool keeps one SSH connection per Config.Key for the whole provider run, so that a thousand
// resources on one host share one connection. It is safe for concurrent use: concurrent Gets
// for one key dial once, and a connection that died is re-dialled by the next Get. Bastions are
// pool entries too, shared by every host behind them.
//
// The first Config seen for a key is the one dialled; later Gets with the same key reuse its
// connection whatever their other settings.
type Pool struct {
	ctx    context.Context // cancelled by Close: aborts dials in flight
	cancel context.CancelFunc

	mu      sync.Mutex // guards the following fields
	entries map[string]*poolEntry
	dials   map[string]int
	closed  bool
	// OnDial, when set before the first Get, is called each time a connection is dialled with
	// the Get's context, its key and how many times that key was dialled, for logs that prove
	// connection reuse.
	OnDial func(ctx context.Context, key string, n int)

	wg sync.WaitGroup // dials in flight
}

type poolEntry struct {
	ready  chan struct{} // closed when the dial finished; client and err are set before
	client *Client
	err    error
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{ctx: ctx, cancel: cancel, entries: map[string]*poolEntry{}, dials: map[string]int{}}
}

// Get returns the live connection for cfg.Key, dialling it if there is none. The client belongs
// to the pool: do not Close it. ctx bounds the wait; a dial that is abandoned by every caller
// still completes (bounded by cfg.Timeout) and is kept for the next Get.
func (p *Pool) Get(ctx context.Context, cfg Config) (*Client, error) {
	key := cfg.Key()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		e := p.entries[key]
		if e != nil {
			select {
			case <-e.ready:
				if e.err == nil && e.client.dead() == nil {
					p.mu.Unlock()
					return e.client, nil
				}
				e = nil // failed or died: dial again (failures are not cached)
			default: // a dial is in flight: wait for it below
			}
		}
		var dialed int
		if e == nil {
			e = &poolEntry{ready: make(chan struct{})}
			p.entries[key] = e
			p.dials[key]++
			dialed = p.dials[key]
			p.wg.Add(1)
			go p.dial(cfg, e)
		}
		onDial := p.OnDial
		p.mu.Unlock()
		if dialed > 0 && onDial != nil {
			onDial(ctx, key, dialed)
		}

		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		if e.client.dead() == nil {
			return e.client, nil
		}
		// Died between the dial and now: loop to dial again.
	}
}

func (p *Pool) dial(cfg Config, e *poolEntry) {
	defer p.wg.Done()
	// The dial outlives the caller that started it (others may wait on it), so it runs on the
	// pool's context, bounded by cfg.Timeout inside dial.
	c, err := dial(p.ctx, cfg, func(ctx context.Context, b Config) (*Client, bool, error) {
		c, err := p.Get(ctx, b)
		return c, false, err
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed && c != nil {
		c.Close()
		c, err = nil, ErrPoolClosed
	}
	e.client, e.err = c, err
	close(e.ready)
}

// Close closes every connection and waits for dials in flight.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	entries := p.entries
	p.entries = map[string]*poolEntry{}
	p.mu.Unlock()

	p.cancel()
	p.wg.Wait()
	for _, e := range entries {
		if e.client != nil {
			e.client.Close()
		}
	}
	return nil
}

// Dials is the number of connections the pool has dialled (attempts, bastions included).
func (p *Pool) Dials() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, d := range p.dials {
		n += d
	}
	return n
}

// DialsByKey is Dials per Config.Key.
func (p *Pool) DialsByKey() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int, len(p.dials))
	for k, d := range p.dials {
		m[k] = d
	}
	return m
}
