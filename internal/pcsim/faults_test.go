package pcsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

func TestFailFaultAnswers500BeforeDoingAnything(t *testing.T) {
	h := newHarness(t, Options{Faults: Faults{FailRate: 1}})
	g := h.g
	resp, body := h.do(http.MethodPost, cartsPath(customerA), pc.Cart{LineItems: []pc.CartLineItem{line(0, e5, 1, "monthly", "P1M")}},
		"MS-RequestId", "r1")
	expectAPIError(g, resp, body, http.StatusInternalServerError, "800003")
	st := h.srv.Stats()
	g.Expect(st.CartsCreated).To(BeZero())
	g.Expect(st.Faults).To(Equal(map[string]int{faultFail: 1}))
	g.Expect(st.Requests[opCreateCart]).To(Equal(map[int]int{500: 1}))

	// The token endpoint is never faulted; nor is the same request once faults are off.
	h.getToken("", "")
	h.srv.SetFaults(Faults{})
	resp, _ = h.do(http.MethodPost, cartsPath(customerA), pc.Cart{LineItems: []pc.CartLineItem{line(0, e5, 1, "monthly", "P1M")}},
		"MS-RequestId", "r1")
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
}

func TestThrottleFaultSendsRetryAfter(t *testing.T) {
	h := newHarness(t, Options{Faults: Faults{ThrottleRate: 1, RetryAfter: 2500 * time.Millisecond}})
	g := h.g
	resp, body := h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("3"), "whole seconds, rounded up")
	g.Expect(decode[pc.ThrottleBody](g, body)).To(Equal(pc.ThrottleBody{
		StatusCode: 429, Message: "Rate limit is exceeded. Try again in 3 seconds.",
	}))
	g.Expect(h.srv.Stats().Faults).To(Equal(map[string]int{faultThrottle: 1}))

	h.srv.SetFaults(Faults{ThrottleRate: 1})
	resp, _ = h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("1"), "default 1s")
}

func TestDropAfterCommitKeepsTheChange(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	drop := func() { h.srv.SetFaults(Faults{DropAfterCommitRate: 1}) }
	heal := func() { h.srv.SetFaults(Faults{}) }
	cart := pc.Cart{LineItems: []pc.CartLineItem{line(0, e5, 1, "monthly", "P1M")}}

	// Create: the answer is lost, the cart exists, and a retry with the same request ID
	// gets the stored answer instead of a second cart.
	drop()
	_, _, err := h.send(http.MethodPost, cartsPath(customerA), cart, "MS-RequestId", "create-1")
	g.Expect(err).To(HaveOccurred())
	g.Expect(h.srv.Stats().CartsCreated).To(Equal(1))
	heal()
	resp, body := h.do(http.MethodPost, cartsPath(customerA), cart, "MS-RequestId", "create-1")
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
	ct := decode[pc.Cart](g, body)
	g.Expect(h.srv.Stats().CartsCreated).To(Equal(1))

	// Update: the new lines are visible afterwards.
	drop()
	put := ct
	put.LineItems = []pc.CartLineItem{line(0, e5, 42, "monthly", "P1M")}
	_, _, err = h.send(http.MethodPut, cartPath(customerA, ct.ID), put)
	g.Expect(err).To(HaveOccurred())
	heal()
	resp, body = h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(decode[pc.Cart](g, body).LineItems[0].Quantity).To(Equal(42))

	// Checkout: the orders exist; GET shows the cart ordered; a retry creates nothing new.
	drop()
	_, _, err = h.send(http.MethodPost, cartPath(customerA, ct.ID)+"/checkout", nil, "MS-RequestId", "co-1")
	g.Expect(err).To(HaveOccurred())
	heal()
	_, body = h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	g.Expect(decode[pc.Cart](g, body).Status).To(Equal(pc.CartStatusOrdered))
	g.Expect(h.srv.Orders()).To(HaveLen(1))
	res := h.checkoutOK(customerA, ct.ID)
	g.Expect(res.Orders[0].ID).To(Equal(h.srv.Orders()[0].OrderID))

	// GETs are never dropped.
	drop()
	resp, _ = h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	st := h.srv.Stats()
	g.Expect(st.Faults).To(Equal(map[string]int{faultDrop: 3}))
	g.Expect(st.Requests[opCheckout]).To(Equal(map[int]int{0: 1, 201: 1}))
	g.Expect(st.OrdersCreated).To(Equal(1))
	g.Expect(st.DuplicateCheckouts).To(BeZero())
}

func TestDropWithoutHijackAbortsTheHandler(t *testing.T) {
	srv, err := New(Options{Faults: Faults{DropAfterCommitRate: 1}})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	tok := issueTestToken(t, srv)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, cartsPath(customerA),
		strings.NewReader(`{"lineItems":[{"id":0,"catalogItemId":"`+e5+`","quantity":1,"billingCycle":"monthly","termDuration":"P1M"}]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	NewWithT(t).Expect(func() { srv.ServeHTTP(httptest.NewRecorder(), req) }).To(PanicWith(http.ErrAbortHandler))
	NewWithT(t).Expect(srv.Stats().CartsCreated).To(Equal(1))
}

func issueTestToken(t *testing.T, srv *Server) string {
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/t/oauth2/v2.0/token",
		strings.NewReader("grant_type=client_credentials&client_id=a&client_secret=b&scope=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	NewWithT(t).Expect(rec.Code).To(Equal(http.StatusOK))
	return decode[tokenResponse](NewWithT(t), rec.Body.Bytes()).AccessToken
}

// statusSequence sends the same 40 requests to a fresh server and returns the statuses.
func statusSequence(t *testing.T, seed int64) []int {
	h := newHarness(t, Options{Seed: seed, Faults: Faults{FailRate: 0.3, ThrottleRate: 0.3}})
	var out []int
	for range 40 {
		resp, _ := h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
		out = append(out, resp.StatusCode)
	}
	return out
}

func TestFaultsAreReproducibleWithASeed(t *testing.T) {
	g := NewWithT(t)
	a, b, c := statusSequence(t, 42), statusSequence(t, 42), statusSequence(t, 7)
	g.Expect(a).To(Equal(b))
	g.Expect(a).NotTo(Equal(c))
	g.Expect(a).To(ContainElements(200, 429, 500), "the rates are honoured")
}

func TestLatencyRespectsTheRequestContext(t *testing.T) {
	srv, err := New(Options{Latency: time.Hour})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req) // returns at once instead of after an hour
	NewWithT(t).Expect(rec.Body.Len()).To(BeZero())
	NewWithT(t).Expect(srv.Stats().Requests).To(BeEmpty())
}

func TestFaultsJSONAndValidation(t *testing.T) {
	g := NewWithT(t)
	var f Faults
	g.Expect(json.Unmarshal([]byte(`{"failRate":0.1,"throttleRate":0.2,"dropAfterCommitRate":0.3,"retryAfter":"5s"}`), &f)).To(Succeed())
	g.Expect(f).To(Equal(Faults{FailRate: 0.1, ThrottleRate: 0.2, DropAfterCommitRate: 0.3, RetryAfter: 5 * time.Second}))
	g.Expect(json.Unmarshal([]byte(`{"retryAfter":2}`), &f)).To(Succeed())
	g.Expect(f.RetryAfter).To(Equal(2 * time.Second))
	g.Expect(json.Unmarshal([]byte(`{"retryAfter":"soon"}`), &f)).NotTo(Succeed())
	b, err := json.Marshal(Faults{FailRate: 0.5, RetryAfter: time.Second})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).To(Equal(`{"failRate":0.5,"throttleRate":0,"dropAfterCommitRate":0,"retryAfter":"1s"}`))

	g.Expect(Faults{FailRate: 1.5}.Validate()).To(MatchError(ContainSubstring("failRate")))
	g.Expect(Faults{RetryAfter: -1}.Validate()).To(HaveOccurred())
	_, err = New(Options{Faults: Faults{ThrottleRate: -0.1}})
	g.Expect(err).To(HaveOccurred())
}
