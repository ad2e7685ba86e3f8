package pcsim

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

func TestRateLimitPerTenantBudget(t *testing.T) {
	h := newHarness(t, Options{RateLimit: 3})
	g := h.g
	path := "/v1/customers/" + customerA + "/orders"
	for i := range 3 {
		h.clock.Step(10 * time.Second) // admitted at +10s, +20s, +30s
		resp, body := h.do(http.MethodGet, path, nil)
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "request %d: %s", i, body)
	}

	// The fourth request within the minute is refused as Partner Center refuses it: 429,
	// Retry-After until the oldest admitted request (+10s) leaves the window (+70s), and
	// the throttling body.
	h.clock.Step(15 * time.Second) // +45s
	resp, body := h.do(http.MethodGet, path, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("25"))
	tb := decode[pc.ThrottleBody](g, body)
	g.Expect(tb.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(tb.Message).To(Equal("Rate limit is exceeded. Try again in 25 seconds."))

	// A refused request does not use the budget: at +70s the first slot is free again,
	// and only that one.
	h.clock.Step(25 * time.Second)
	resp, _ = h.do(http.MethodGet, path, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	resp, _ = h.do(http.MethodGet, path, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("10"))

	// Another partner tenant (app) has its own budget.
	h.token = h.getToken("other-app", "other-secret")
	for range 3 {
		resp, _ = h.do(http.MethodGet, path, nil)
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	}
	resp, _ = h.do(http.MethodGet, path, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))

	st := h.srv.Stats()
	g.Expect(st.RateLimited).To(Equal(3))
	g.Expect(st.Requests["ListOrders"][http.StatusTooManyRequests]).To(Equal(3))
}

func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	g := NewWithT(t)
	l := newRateLimiter(1)
	t0 := time.Unix(1_000_000, 0)
	g.Expect(l.admit("t", t0)).To(BeZero())
	g.Expect(l.admit("t", t0.Add(59500*time.Millisecond))).To(Equal(500 * time.Millisecond))
	g.Expect(l.admit("t", t0.Add(time.Minute))).To(BeZero())
	g.Expect(newRateLimiter(0)).To(BeNil())
}

func TestRateLimitNegativeRejected(t *testing.T) {
	_, err := New(Options{RateLimit: -1})
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("rate limit must not be negative")))
}
