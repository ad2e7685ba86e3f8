package partnercenter

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"
)

func TestGetAndPutRetryTransientFailuresAsOneOperation(t *testing.T) {
	cart := &Cart{LineItems: []CartLineItem{{CatalogItemID: "X", Quantity: 3}}}
	tests := []struct {
		name string
		call func(c Client) error
	}{
		{"GetCart", func(c Client) error { _, err := c.GetCart(ctx, "cust", "cart-1"); return err }},
		{"UpdateCart", func(c Client) error { _, err := c.UpdateCart(ctx, "cust", "cart-1", cart); return err }},
		{"GetOrder", func(c Client) error { _, err := c.GetOrder(ctx, "cust", "o-1"); return err }},
		{"ListOrders", func(c Client) error { _, err := c.ListOrders(ctx, "cust"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, script(
				status(500, `{"code":800003,"description":"unexpected"}`),
				dropConnection,
				status(408, ``),
				status(200, `{}`),
			))
			f, clk := newTestFactory(s, func(c *Config) { c.RetryBaseDelay = 100 * time.Millisecond })

			g.Expect(tt.call(mustClient(t, f, testCreds))).To(Succeed())

			reqs := s.Requests()
			g.Expect(reqs).To(HaveLen(4))
			requestID := reqs[0].Header.Get("MS-RequestId")
			cvBase, _, _ := strings.Cut(reqs[0].Header.Get("MS-CV"), ".")
			correlationIDs := map[string]bool{}
			for i, r := range reqs {
				g.Expect(r.Header.Get("MS-RequestId")).To(Equal(requestID), "attempt %d keeps the MS-RequestId", i)
				g.Expect(r.Header.Get("MS-CV")).To(Equal(cvBase+"."+string(rune('0'+i))), "attempt %d extends the MS-CV", i)
				g.Expect(r.Body).To(Equal(reqs[0].Body), "attempt %d sends the same body", i)
				correlationIDs[r.Header.Get("MS-CorrelationId")] = true
			}
			g.Expect(correlationIDs).To(HaveLen(4), "every attempt has its own MS-CorrelationId")

			// Exponential backoff with jitter: attempt i waits between half and all of base*2^i.
			slept := clk.Slept()
			g.Expect(slept).To(HaveLen(3))
			for i, d := range slept {
				full := 100 * time.Millisecond << i
				g.Expect(d).To(BeNumerically(">=", full/2), "backoff %d", i)
				g.Expect(d).To(BeNumerically("<=", full), "backoff %d", i)
			}
		})
	}
}

func TestRetriesEndAtMaxRetries(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(status(503, `{"code":900192,"description":"try later"}`)))
	f, _ := newTestFactory(s, func(c *Config) { c.MaxRetries = 2 })

	_, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

	g.Expect(s.Requests()).To(HaveLen(3))
	g.Expect(Classify(err)).To(Equal(ClassRetryable))
	g.Expect(ErrorCode(err)).To(Equal("900192"))
}

func TestBusinessErrorsAreNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 409} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, script(status(code, `{"code":1,"description":"no"}`)))
			f, _ := newTestFactory(s, nil)

			_, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

			g.Expect(err).To(HaveOccurred())
			g.Expect(s.Requests()).To(HaveLen(1))
		})
	}
}

func TestPostsAreSentExactlyOnce(t *testing.T) {
	answers := map[string]func(w http.ResponseWriter){
		"500":                status(500, `{"code":800003,"description":"unexpected"}`),
		"408":                status(408, ``),
		"429 short wait":     status(429, `{"statusCode":429,"message":"slow down"}`, "Retry-After", "1"),
		"connection dropped": dropConnection,
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, script(answer, status(201, `{}`)))
			f, clk := newTestFactory(s, nil)
			c := mustClient(t, f, testCreds)

			_, checkoutErr := c.Checkout(ctx, "cust", "cart-1", "req-checkout")
			_, createErr := c.CreateCart(ctx, "cust", &Cart{}, "req-create")

			g.Expect(checkoutErr).To(HaveOccurred())
			g.Expect(createErr).NotTo(HaveOccurred(), "the second POST got the second answer")
			g.Expect(s.Requests()).To(HaveLen(2))
			if name == "429 short wait" {
				// The POST handed its 429 back, and the tenant pause held the next call.
				g.Expect(Classify(checkoutErr)).To(Equal(ClassThrottled))
				g.Expect(RetryAfter(checkoutErr)).To(Equal(time.Second))
				g.Expect(clk.Slept()).To(Equal([]time.Duration{time.Second}))
			} else {
				g.Expect(clk.Slept()).To(BeEmpty())
			}
		})
	}
}

func TestGetWaitsOutAShortRetryAfter(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(
		status(429, `{"statusCode":429,"message":"Try again in 2 seconds."}`, "Retry-After", "2"),
		status(200, `{"id":"cart-1"}`),
	))
	f, clk := newTestFactory(s, nil)

	cart, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cart.ID).To(Equal("cart-1"))
	g.Expect(s.Requests()).To(HaveLen(2))
	g.Expect(clk.Slept()).To(Equal([]time.Duration{2 * time.Second}))
}

func TestGetHandsBackALongRetryAfter(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(status(429, `{"statusCode":429,"message":"Try again in 57 seconds."}`, "Retry-After", "57")))
	f, clk := newTestFactory(s, nil) // MaxRetryWait 5s

	_, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

	g.Expect(Classify(err)).To(Equal(ClassThrottled))
	g.Expect(RetryAfter(err)).To(Equal(57 * time.Second))
	g.Expect(errors.Is(err, ErrThrottled)).To(BeTrue())
	g.Expect(s.Requests()).To(HaveLen(1))
	g.Expect(clk.Slept()).To(BeEmpty())
}

func TestEachAttemptHasItsOwnDeadline(t *testing.T) {
	g := NewWithT(t)
	hang := func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			<-r.Context().Done() // the client gives up on this attempt
			return
		}
		reply(w, http.StatusOK, `{"id":"cart-1"}`)
	}
	s := newPCServer(t, hang)
	f, _ := newTestFactory(s, func(c *Config) {
		c.Timeout = 100 * time.Millisecond
		c.CheckoutTimeout = 100 * time.Millisecond
	})
	c := mustClient(t, f, testCreds)

	cart, err := c.GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred(), "the GET's second attempt gets a fresh deadline")
	g.Expect(cart.ID).To(Equal("cart-1"))

	s.SetAPI(func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	_, err = c.Checkout(ctx, "cust", "cart-1", "req-1")
	var transportErr *TransportError
	g.Expect(errors.As(err, &transportErr)).To(BeTrue())
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
}

func TestCancelledCallerStopsRetrying(t *testing.T) {
	g := NewWithT(t)
	callCtx, cancel := context.WithCancel(ctx)
	s := newPCServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		cancel() // the caller gives up while the first attempt is answered
		reply(w, http.StatusServiceUnavailable, ``)
	})
	f, _ := newTestFactory(s, nil)

	_, err := mustClient(t, f, testCreds).GetCart(callCtx, "cust", "cart-1")

	g.Expect(err).To(HaveOccurred())
	g.Expect(s.Requests()).To(HaveLen(1))
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"57", 57 * time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999999", MaxRetryAfter},
		{"999999999", MaxRetryAfter},
		{"300", 5 * time.Minute},
		{"301", MaxRetryAfter},
		{now.Add(4 * time.Minute).Format(http.TimeFormat), 4 * time.Minute},
		{now.AddDate(1, 0, 0).Format(http.TimeFormat), MaxRetryAfter},
		{now.AddDate(1, 0, 0).Format(time.RFC850), MaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			NewWithT(t).Expect(parseRetryAfter(tt.header, now)).To(Equal(tt.want))
		})
	}
}

func TestRetryAfterOfAYearPausesTheTenantForMaxRetryAfter(t *testing.T) {
	for _, retryAfter := range []string{"date a year ahead", "999999999"} {
		t.Run(retryAfter, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, nil)
			f, clk := newTestFactory(s, nil)
			header := retryAfter
			if retryAfter == "date a year ahead" {
				header = clk.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat)
			}
			s.SetAPI(script(
				status(429, `{"statusCode":429,"message":"Try again later."}`, "Retry-After", header),
				status(200, `{"id":"cart-1"}`),
			))
			c := mustClient(t, f, testCreds)

			_, err := c.Checkout(ctx, "cust", "cart-1", "req-1")
			g.Expect(Classify(err)).To(Equal(ClassThrottled))
			g.Expect(RetryAfter(err)).To(Equal(MaxRetryAfter))

			// Every caller of the tenant is held back for MaxRetryAfter, not a year...
			_, err = mustClient(t, f, sameTenantOtherApp).GetCart(ctx, "cust", "cart-1")
			g.Expect(Classify(err)).To(Equal(ClassThrottled))
			g.Expect(RetryAfter(err)).To(Equal(MaxRetryAfter))
			g.Expect(s.Requests()).To(HaveLen(1))

			// ...and then goes.
			clk.Advance(MaxRetryAfter)
			cart, err := c.GetCart(ctx, "cust", "cart-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cart.ID).To(Equal("cart-1"))
			g.Expect(s.Requests()).To(HaveLen(2))
		})
	}
}

func TestTokenEndpointRetryAfterIsCapped(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, clk := newTestFactory(s, nil)
	s.SetTokenHandler(func(w http.ResponseWriter, _ *http.Request, _ int) {
		reply(w, http.StatusTooManyRequests, `{"error":"temporarily_unavailable"}`,
			"Retry-After", clk.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	})

	_, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")

	var apiErr *APIError
	g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v", err)
	g.Expect(apiErr.Operation).To(Equal(OpAcquireToken))
	g.Expect(apiErr.RetryAfter).To(Equal(MaxRetryAfter))
	g.Expect(s.Requests()).To(BeEmpty())
}

func TestCorrelationIDsAreNewPerAttemptButRequestIDPerCall(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	_, _ = c.GetCart(ctx, "cust", "cart-1")
	_, _ = c.GetCart(ctx, "cust", "cart-1")

	reqs := s.Requests()
	g.Expect(reqs[0].Header.Get("MS-RequestId")).NotTo(Equal(reqs[1].Header.Get("MS-RequestId")))
	g.Expect(reqs[0].Header.Get("MS-CV")).NotTo(Equal(reqs[1].Header.Get("MS-CV")))
	g.Expect(uuid.Parse(reqs[1].Header.Get("MS-RequestId"))).Error().NotTo(HaveOccurred())
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	g := NewWithT(t)
	for attempt := range 40 {
		full := min(100*time.Millisecond<<min(attempt, 16), maxBackoff)
		d := backoff(100*time.Millisecond, attempt)
		g.Expect(d).To(BeNumerically(">=", full/2), "attempt %d", attempt)
		g.Expect(d).To(BeNumerically("<=", full), "attempt %d", attempt)
	}
}

func TestRealClockSleepEndsWithTheContext(t *testing.T) {
	g := NewWithT(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	err := realClock{}.Sleep(cancelled, time.Hour)

	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue())
	g.Expect(realClock{}.Sleep(ctx, 0)).To(Succeed())
}
