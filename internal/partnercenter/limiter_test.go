package partnercenter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// Two apps of one partner tenant, and an app of another tenant.
var (
	sameTenantOtherApp = Credentials{TenantID: strings.ToUpper(testTenant), ClientID: "app-2", ClientSecret: "other-secret"}
	otherTenant        = Credentials{TenantID: "contoso.onmicrosoft.com", ClientID: "app-3", ClientSecret: "third-secret"}
)

func TestRateLimitIsSharedByEveryClientOfATenant(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	// One call now, the next in about 1000s.
	f, _ := newTestFactory(s, func(c *Config) { c.QPS, c.Burst = 0.001, 1 })

	_, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())

	// The tenant's budget is spent, whichever app asks; the limiter says so at once
	// because the wait would outlast the caller's deadline.
	shortCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = mustClient(t, f, sameTenantOtherApp).GetCart(shortCtx, "cust", "cart-1")
	g.Expect(err).To(MatchError(ContainSubstring("rate limit")))
	g.Expect(Classify(err)).To(Equal(ClassRetryable))

	// Another partner tenant has its own budget.
	_, err = mustClient(t, f, otherTenant).GetCart(shortCtx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(s.Requests()).To(HaveLen(2))
}

func TestThrottlingPausesEveryWorkerOfTheTenant(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(
		status(429, `{"statusCode":429,"message":"Try again in 30 seconds."}`, "Retry-After", "30"),
		status(200, `{}`),
	))
	f, clk := newTestFactory(s, nil) // MaxRetryWait 5s

	_, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")
	g.Expect(Classify(err)).To(Equal(ClassThrottled))

	// Another app of the same tenant is held back without sending anything: the pause is
	// too long to wait through, so it gets the throttle and the time left.
	clk.Advance(10 * time.Second)
	_, err = mustClient(t, f, sameTenantOtherApp).GetCart(ctx, "cust", "cart-1")
	var apiErr *APIError
	g.Expect(errors.As(err, &apiErr)).To(BeTrue())
	g.Expect(Classify(err)).To(Equal(ClassThrottled))
	g.Expect(apiErr.RetryAfter).To(Equal(20 * time.Second))
	g.Expect(apiErr.Operation).To(Equal(OpGetCart))
	g.Expect(s.Requests()).To(HaveLen(1))

	// Another tenant is not paused.
	_, err = mustClient(t, f, otherTenant).GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())

	// Once the pause is short enough, callers of the tenant wait it out and go.
	clk.Advance(16 * time.Second)
	_, err = mustClient(t, f, sameTenantOtherApp).GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(clk.Slept()).To(Equal([]time.Duration{4 * time.Second}))
	g.Expect(s.Requests()).To(HaveLen(3))
}

func TestPauseThatOutlastsTheCallerIsNotWaitedThrough(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(status(429, `{"statusCode":429,"message":"wait"}`, "Retry-After", "3"), status(200, `{}`)))
	f, clk := newTestFactory(s, nil)
	_, _ = mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")

	shortCtx, cancel := context.WithDeadline(ctx, time.Now().Add(time.Second))
	defer cancel()
	_, err := mustClient(t, f, sameTenantOtherApp).GetCart(shortCtx, "cust", "cart-1")

	g.Expect(Classify(err)).To(Equal(ClassThrottled))
	g.Expect(RetryAfter(err)).To(Equal(3 * time.Second))
	g.Expect(clk.Slept()).To(BeEmpty())
	g.Expect(s.Requests()).To(HaveLen(1))
}

func TestALongerPauseIsNotShortenedByAShorterOne(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock()
	gate := newTenantGate(Config{MaxRetryWait: time.Hour}.withDefaults(), clk)

	gate.pauseFor(10 * time.Second)
	gate.pauseFor(2 * time.Second)
	g.Expect(gate.wait(ctx, OpGetCart, "req")).To(Succeed())

	g.Expect(clk.Slept()).To(Equal([]time.Duration{10 * time.Second}))
}

func TestNoPauseIsLongerThanMaxRetryAfter(t *testing.T) {
	g := NewWithT(t)
	clk := newFakeClock()
	gate := newTenantGate(Config{MaxRetryWait: time.Second}, clk)

	gate.pauseFor(365 * 24 * time.Hour)

	g.Expect(gate.pauseEnd().Sub(clk.Now())).To(Equal(MaxRetryAfter))
	err := gate.wait(ctx, OpGetCart, "req")
	g.Expect(RetryAfter(err)).To(Equal(MaxRetryAfter))
	clk.Advance(MaxRetryAfter)
	g.Expect(gate.wait(ctx, OpGetCart, "req")).To(Succeed())
}

func TestConfigDefaults(t *testing.T) {
	g := NewWithT(t)
	cfg := Config{Endpoint: "https://pc.example/", QPS: 2.5}.withDefaults()

	g.Expect(cfg.Endpoint).To(Equal("https://pc.example"))
	g.Expect(cfg.AuthorityHost).To(Equal(DefaultAuthorityHost))
	g.Expect(cfg.Scope).To(Equal(DefaultScope))
	g.Expect(cfg.Burst).To(Equal(3))
	g.Expect(cfg.Timeout).To(Equal(30 * time.Second))
	g.Expect(cfg.CheckoutTimeout).To(Equal(120 * time.Second))
	g.Expect(cfg.MaxRetries).To(Equal(3))
	g.Expect(cfg.RetryBaseDelay).To(Equal(500 * time.Millisecond))
	g.Expect(cfg.MaxRetryWait).To(Equal(5 * time.Second))
	g.Expect(cfg.HTTPClient).NotTo(BeNil())
	g.Expect(cfg.Observer).NotTo(BeNil())
	g.Expect(Config{MaxRetries: -1}.withDefaults().MaxRetries).To(Equal(0))
	g.Expect(Config{}.withDefaults().Endpoint).To(Equal(DefaultEndpoint))
	g.Expect(Config{}.withDefaults().Burst).To(BeZero(), "unlimited: no burst")
}
