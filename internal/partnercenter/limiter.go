package partnercenter

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// tenantGate is what every attempt against one partner tenant passes first. Partner Center
// throttles per partner tenant, so all clients and workers of a tenant share one gate: a
// client-side token bucket (QPS/Burst), and a pause that any 429 with Retry-After extends,
// so that one worker's 429 slows every worker of that tenant instead of letting the others
// keep spending the tenant's budget.
type tenantGate struct {
	limiter *rate.Limiter // nil: unlimited
	clock   clock
	maxWait time.Duration // longest pause worth waiting through inside a call

	mu          sync.Mutex
	pausedUntil time.Time
}

func newTenantGate(cfg Config, clk clock) *tenantGate {
	g := &tenantGate{clock: clk, maxWait: cfg.MaxRetryWait}
	if cfg.QPS > 0 {
		g.limiter = rate.NewLimiter(rate.Limit(cfg.QPS), cfg.Burst)
	}
	return g
}

// pauseFor stops every caller of the tenant for d (at most MaxRetryAfter), unless a longer
// pause is already on.
func (g *tenantGate) pauseFor(d time.Duration) {
	if d <= 0 {
		return
	}
	until := g.clock.Now().Add(min(d, MaxRetryAfter))
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.pausedUntil) {
		g.pausedUntil = until
	}
}

func (g *tenantGate) pauseEnd() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pausedUntil
}

// wait blocks until an attempt may be sent. A pause longer than maxWait, or one that
// outlasts ctx, is not waited through: the caller gets a throttled *APIError at once, with
// the time left as RetryAfter, and nothing is sent.
func (g *tenantGate) wait(ctx context.Context, op, requestID string) error {
	for {
		left := g.pauseEnd().Sub(g.clock.Now())
		if left <= 0 {
			break
		}
		if left > g.maxWait || endsBefore(ctx, g.clock.Now().Add(left)) {
			return &APIError{
				Operation:   op,
				StatusCode:  http.StatusTooManyRequests,
				Description: "not sent: Partner Center throttled this partner tenant",
				RequestID:   requestID,
				RetryAfter:  left,
			}
		}
		// Loop: another 429 may have extended the pause while we slept.
		if err := g.clock.Sleep(ctx, left); err != nil {
			return fmt.Errorf("wait for partner tenant throttling pause: %w", err)
		}
	}
	if g.limiter == nil {
		return nil
	}
	if err := g.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("wait for partner tenant rate limit: %w", err)
	}
	return nil
}

// endsBefore reports whether ctx ends before t.
func endsBefore(ctx context.Context, t time.Time) bool {
	deadline, ok := ctx.Deadline()
	return ok && deadline.Before(t)
}
