package pcsim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// rateLimitWindow is the window of Options.RateLimit: Partner Center states its limits as
// requests per minute per partner tenant.
const rateLimitWindow = time.Minute

// rateLimiter enforces Options.RateLimit: at most limit /v1 requests per partner tenant in
// any window of one minute (a sliding window, not a bucket refilled on the minute). A
// refused request does not use the budget. Tenants share nothing. It reads the server's
// clock, so tests drive it with Options.Now.
type rateLimiter struct {
	limit int
	mu    sync.Mutex
	// admitted holds, per tenant, the times of the requests admitted in the last window,
	// oldest first, as a ring of at most limit entries.
	admitted map[string]*admitRing
}

type admitRing struct {
	times []time.Time // len == limit once full
	head  int         // index of the oldest entry when full
}

func newRateLimiter(limit int) *rateLimiter {
	if limit <= 0 {
		return nil
	}
	return &rateLimiter{limit: limit, admitted: map[string]*admitRing{}}
}

// admit records a request of tenant at now and returns 0, or, when the tenant's budget for
// the window is spent, the time until the oldest admitted request leaves the window.
func (l *rateLimiter) admit(tenant string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.admitted[tenant]
	if r == nil {
		r = &admitRing{times: make([]time.Time, 0, min(l.limit, 1024))}
		l.admitted[tenant] = r
	}
	if len(r.times) < l.limit {
		r.times = append(r.times, now)
		return 0
	}
	oldest := r.times[r.head]
	if wait := oldest.Add(rateLimitWindow).Sub(now); wait > 0 {
		return wait
	}
	r.times[r.head] = now
	r.head = (r.head + 1) % l.limit
	return 0
}

// rateLimited answers a /v1 request of a tenant over its budget as Partner Center does: 429
// with Retry-After in whole seconds (rounded up, at least 1) and its throttling body.
func (s *Server) rateLimited(tenant string) (response, bool) {
	if s.rateLimiter == nil {
		return response{}, false
	}
	wait := s.rateLimiter.admit(tenant, s.now())
	if wait <= 0 {
		return response{}, false
	}
	s.stats.rateLimited()
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return response{
		status: http.StatusTooManyRequests,
		header: http.Header{"Retry-After": {strconv.Itoa(secs)}},
		body: pc.ThrottleBody{StatusCode: http.StatusTooManyRequests,
			Message: fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", secs)},
	}, true
}

func (r *statsRecorder) rateLimited() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.RateLimited++
}
