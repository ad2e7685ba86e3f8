package partnercenter

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBackoff caps one backoff delay whatever MaxRetries and RetryBaseDelay say.
const maxBackoff = 30 * time.Second

// MaxRetryAfter caps every Retry-After the client takes from an answer (API or token
// endpoint, delay-seconds or HTTP date), and so every throttled error's RetryAfter and every
// pause of a partner tenant: one answer can never hold a tenant back for longer.
const MaxRetryAfter = 5 * time.Minute

// retryDelay decides whether a GET or PUT that failed with err on its attempt-th try (0 is
// the first) is tried again, and after how long. Only failures that say nothing about the
// request itself are retried: no answer, 408, 5xx, and 429 with a Retry-After short enough
// to sit through. (The 429 has also paused the tenant gate for as long, so every other
// worker of the tenant waits too; a refusal by the gate itself carries a RetryAfter that is
// too long by construction, and is not retried.) A *DecodeError is never retried: Partner
// Center answered success, and whether to repeat the call is the caller's decision.
func retryDelay(cfg Config, attempt int, err error) (time.Duration, bool) {
	if attempt >= cfg.MaxRetries || IsUndecodable(err) {
		return 0, false
	}
	var transportErr *TransportError
	if errors.As(err, &transportErr) {
		return backoff(cfg.RetryBaseDelay, attempt), true
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return 0, false // a cancelled context, a limiter refusal, a request we could not build
	}
	switch s := apiErr.StatusCode; {
	case s == http.StatusTooManyRequests:
		if apiErr.RetryAfter > cfg.MaxRetryWait {
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			return apiErr.RetryAfter, true
		}
		return backoff(cfg.RetryBaseDelay, attempt), true
	case s == http.StatusRequestTimeout, s >= 500:
		return backoff(cfg.RetryBaseDelay, attempt), true
	}
	return 0, false
}

// backoff is base*2^attempt with "equal jitter": between half and all of it, so that
// workers which failed together do not retry together.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 16)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date, capped at
// MaxRetryAfter. Anything else, or a date in the past, is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return min(at.Sub(now), MaxRetryAfter)
	}
	return 0
}
