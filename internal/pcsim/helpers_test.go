package pcsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

const (
	customerA = "932c4101-dc08-461b-b4c1-75d80e905775"
	customerB = "0a4f1d0e-7f0e-4b1e-9d5e-1f2a3b4c5d6e"

	e5           = "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H"
	businessBas  = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS"
	teamsPhone   = "CFQ7TTC0LH18:0001:CFQ7TTC0K5TK"
	w365         = "CFQ7TTC0HHS9:0001:CFQ7TTC0J1FV"
	reservedVM   = "DZH318Z0BQ3Q:0007:DZH318Z0BQ35"
	savingsPlan  = "DZH318Z0DR46:0001:DZH318Z0DR47"
	e5EndsError  = "CFQ7TTC0LF8S:0001:CFQ7TTC0TEST"
	e5CheckoutKO = "CFQ7TTC0LF8S:0001:CFQ7TTC0FAIL"
)

// newFakeClock is the injected Now: tests move time (Step) instead of sleeping.
func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// harness runs a Server behind a real HTTP listener, as the operator meets it.
type harness struct {
	t     *testing.T
	g     *WithT
	srv   *Server
	ts    *httptest.Server
	clock *clocktesting.FakeClock
	token string
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, g: NewWithT(t), clock: newFakeClock()}
	if opts.Now == nil {
		opts.Now = h.clock.Now
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 365 * 24 * time.Hour // tests that move the clock keep their token
	}
	srv, err := New(opts)
	h.g.Expect(err).NotTo(HaveOccurred())
	h.srv = srv
	h.ts = httptest.NewServer(srv)
	t.Cleanup(h.ts.Close)
	h.token = h.getToken(opts.ClientID, opts.ClientSecret)
	return h
}

func (h *harness) getToken(id, secret string) string {
	h.t.Helper()
	if id == "" {
		id, secret = "any-app", "any-secret"
	}
	resp, body := h.postForm("/tenant-1/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {"https://api.partnercenter.microsoft.com/.default"},
	})
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	var tok tokenResponse
	h.g.Expect(json.Unmarshal(body, &tok)).To(Succeed())
	return tok.AccessToken
}

func (h *harness) postForm(path string, form url.Values) (*reply, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	h.g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.ts.Client().Do(req)
	h.g.Expect(err).NotTo(HaveOccurred())
	return readReply(h.g, resp)
}

// send performs an API call with the harness token; headers are name, value pairs.
func (h *harness) send(method, path string, body any, headers ...string) (*reply, []byte, error) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		h.g.Expect(err).NotTo(HaveOccurred())
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.ts.URL+path, rd)
	h.g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	r, b := readReply(h.g, resp)
	return r, b, nil
}

// admin calls a /_pcsim endpoint: no token, and body as given.
func (h *harness) admin(method, path, body string) (*reply, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.ts.URL+path, strings.NewReader(body))
	h.g.Expect(err).NotTo(HaveOccurred())
	resp, err := h.ts.Client().Do(req)
	h.g.Expect(err).NotTo(HaveOccurred())
	return readReply(h.g, resp)
}

// do is send for calls that must get an answer.
func (h *harness) do(method, path string, body any, headers ...string) (*reply, []byte) {
	h.t.Helper()
	resp, b, err := h.send(method, path, body, headers...)
	h.g.Expect(err).NotTo(HaveOccurred())
	return resp, b
}

// reply is what the helpers hand back of an answer: its status and headers. The body
// has already been read in full and closed, so there is no *http.Response left to close.
type reply struct {
	StatusCode int
	Header     http.Header
}

// readReply reads and closes the body of resp and returns it with the status and headers.
func readReply(g *WithT, resp *http.Response) (*reply, []byte) {
	b, err := io.ReadAll(resp.Body)
	closeErr := resp.Body.Close()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(closeErr).NotTo(HaveOccurred())
	return &reply{StatusCode: resp.StatusCode, Header: resp.Header}, b
}

func cartsPath(customer string) string { return "/v1/customers/" + customer + "/carts" }

func cartPath(customer, cartID string) string { return cartsPath(customer) + "/" + cartID }

func (h *harness) createCart(customer string, lines ...pc.CartLineItem) pc.Cart {
	h.t.Helper()
	resp, body := h.do(http.MethodPost, cartsPath(customer), pc.Cart{LineItems: lines})
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(body))
	return decode[pc.Cart](h.g, body)
}

func (h *harness) checkout(customer, cartID string, headers ...string) (*reply, []byte) {
	h.t.Helper()
	return h.do(http.MethodPost, cartPath(customer, cartID)+"/checkout", nil, headers...)
}

func (h *harness) checkoutOK(customer, cartID string) pc.CartCheckoutResult {
	h.t.Helper()
	resp, body := h.checkout(customer, cartID)
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(body))
	return decode[pc.CartCheckoutResult](h.g, body)
}

func decode[T any](g *WithT, body []byte) T {
	var v T
	g.Expect(json.Unmarshal(body, &v)).To(Succeed(), string(body))
	return v
}

// expectAPIError checks status and Partner Center error code of an answer.
func expectAPIError(g *WithT, resp *reply, body []byte, status int, code string) {
	g.ExpectWithOffset(1, resp.StatusCode).To(Equal(status), string(body))
	eb := decode[pc.ErrorBody](g, body)
	g.ExpectWithOffset(1, string(eb.Code)).To(Equal(code), string(body))
	g.ExpectWithOffset(1, eb.Description).NotTo(BeEmpty())
	g.ExpectWithOffset(1, strings.TrimSpace(string(body))).To(HavePrefix(`{"code":`+code+`,`), "codes are JSON numbers")
}

func line(id int, catalogItemID string, qty int, cycle, term string) pc.CartLineItem {
	return pc.CartLineItem{ID: id, CatalogItemID: catalogItemID, Quantity: qty, BillingCycle: cycle, TermDuration: term}
}

func ptr[T any](v T) *T { return &v }
