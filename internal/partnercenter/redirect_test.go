package partnercenter

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

// elsewhere is a second host that records every request sent to it.
type elsewhere struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []string
}

func newElsewhere(t *testing.T) *elsewhere {
	t.Helper()
	e := &elsewhere{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.requests = append(e.requests, r.Method+" "+r.RequestURI)
		e.mu.Unlock()
		reply(w, http.StatusOK, `{"token_type":"Bearer","access_token":"stolen","expires_in":3600,"id":"cart-1"}`)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *elsewhere) Requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.requests...)
}

func redirectTo(url string, code int) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, url, code)
	}
}

func TestTokenRequestDoesNotFollowRedirects(t *testing.T) {
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			g := NewWithT(t)
			other := newElsewhere(t)
			s := newPCServer(t, nil)
			s.SetTokenHandler(redirectTo(other.srv.URL+"/token", code))
			f, _ := newTestFactory(s, nil)

			_, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

			var apiErr *APIError
			g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v", err)
			g.Expect(apiErr.Operation).To(Equal(OpAcquireToken))
			g.Expect(apiErr.StatusCode).To(Equal(code))
			g.Expect(apiErr.Description).To(ContainSubstring("redirect not followed"))
			g.Expect(Classify(err)).To(Equal(ClassTerminal))
			g.Expect(err.Error()).NotTo(ContainSubstring(testSecret))
			g.Expect(other.Requests()).To(BeEmpty(), "the client secret went to another host")
			g.Expect(s.TokenRequests()).To(HaveLen(1), "a redirect is not retried")
			g.Expect(s.Requests()).To(BeEmpty())
		})
	}
}

func TestAPICallsDoNotFollowRedirects(t *testing.T) {
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			g := NewWithT(t)
			other := newElsewhere(t)
			s := newPCServer(t, redirectTo(other.srv.URL+"/v1/customers/cust/carts/cart-1", code))
			f, _ := newTestFactory(s, nil)
			c := mustClient(t, f, testCreds)

			_, err := c.GetCart(ctx, "cust", "cart-1")

			var apiErr *APIError
			g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v", err)
			g.Expect(apiErr.Operation).To(Equal(OpGetCart))
			g.Expect(apiErr.StatusCode).To(Equal(code))
			g.Expect(apiErr.Description).To(ContainSubstring("redirect not followed"))
			g.Expect(Classify(err)).To(Equal(ClassTerminal))
			g.Expect(s.Requests()).To(HaveLen(1), "a redirect is not retried")

			_, err = c.Checkout(ctx, "cust", "cart-1", "req-1")
			g.Expect(Classify(err)).To(Equal(ClassTerminal), "error %v", err)
			g.Expect(s.Requests()).To(HaveLen(2))

			g.Expect(other.Requests()).To(BeEmpty(), "the bearer token went to another host")
		})
	}
}

func TestCallersHTTPClientIsNotChanged(t *testing.T) {
	g := NewWithT(t)
	mine := &http.Client{}

	cfg := Config{HTTPClient: mine}.withDefaults()

	g.Expect(mine.CheckRedirect).To(BeNil())
	g.Expect(cfg.HTTPClient).NotTo(BeIdenticalTo(mine))
	g.Expect(cfg.HTTPClient.CheckRedirect).NotTo(BeNil())
}
