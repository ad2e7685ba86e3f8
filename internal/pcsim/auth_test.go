package pcsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var tokenForm = url.Values{
	"grant_type": {"client_credentials"},
	"scope":      {"https://api.partnercenter.microsoft.com/.default"},
}

func formWith(kv ...string) url.Values {
	f := url.Values{}
	for k, v := range tokenForm {
		f[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

func TestTokenWithConfiguredCredentials(t *testing.T) {
	h := newHarness(t, Options{ClientID: "app-1", ClientSecret: "s3cr&t=+x", TokenTTL: time.Hour})
	g := h.g

	t.Run("form credentials", func(t *testing.T) {
		resp, body := h.postForm("/tenant-1/oauth2/v2.0/token", formWith("client_id", "app-1", "client_secret", "s3cr&t=+x"))
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
		tok := decode[tokenResponse](g, body)
		g.Expect(tok.TokenType).To(Equal("Bearer"))
		g.Expect(tok.ExpiresIn).To(Equal(3600))
		g.Expect(len(tok.AccessToken)).To(BeNumerically(">=", 32))
		g.Expect(resp.Header.Get("Cache-Control")).To(Equal("no-store"))
	})

	t.Run("basic auth, form-encoded as golang.org/x/oauth2 sends it", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.ts.URL+"/tenant-1/oauth2/v2.0/token", strings.NewReader(tokenForm.Encode()))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape("app-1"), url.QueryEscape("s3cr&t=+x"))
		httpResp, err := h.ts.Client().Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		resp, body := readReply(g, httpResp)
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	})

	t.Run("bad secret", func(t *testing.T) {
		resp, body := h.postForm("/tenant-1/oauth2/v2.0/token", formWith("client_id", "app-1", "client_secret", "wrong"))
		g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
		e := decode[oauthError](g, body)
		g.Expect(e.Error).To(Equal("invalid_client"))
		g.Expect(e.ErrorDescription).To(HavePrefix("AADSTS7000215"))
		g.Expect(string(body)).NotTo(ContainSubstring("wrong"), "never echo a secret")
	})

	t.Run("other client ID", func(t *testing.T) {
		resp, _ := h.postForm("/tenant-1/oauth2/v2.0/token", formWith("client_id", "app-2", "client_secret", "s3cr&t=+x"))
		g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
	})

	t.Run("wrong grant type and missing scope", func(t *testing.T) {
		resp, body := h.postForm("/tenant-1/oauth2/v2.0/token", formWith("grant_type", "password", "client_id", "app-1", "client_secret", "s3cr&t=+x"))
		g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		g.Expect(decode[oauthError](g, body).Error).To(Equal("unsupported_grant_type"))
		resp, body = h.postForm("/tenant-1/oauth2/v2.0/token", formWith("scope", "", "client_id", "app-1", "client_secret", "s3cr&t=+x"))
		g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		g.Expect(decode[oauthError](g, body).Error).To(Equal("invalid_request"))
	})

	g.Expect(h.srv.Stats().Requests[opToken]).To(Equal(map[int]int{200: 3, 401: 2, 400: 2}))
}

func TestTokenAnyPairMode(t *testing.T) {
	h := newHarness(t, Options{})
	resp, _ := h.postForm("/other-tenant/oauth2/v2.0/token", formWith("client_id", "whatever", "client_secret", "anything"))
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	resp, _ = h.postForm("/other-tenant/oauth2/v2.0/token", formWith("client_id", "whatever"))
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized), "a secret is still needed")
}

func TestAPIRequiresAValidBearerToken(t *testing.T) {
	h := newHarness(t, Options{TokenTTL: time.Minute})
	g := h.g
	path := cartsPath(customerA) + "/c1"

	resp, body := h.do(http.MethodGet, path, nil, "Authorization", "")
	expectAPIError(g, resp, body, http.StatusUnauthorized, "900300")
	g.Expect(resp.Header.Get("WWW-Authenticate")).To(HavePrefix("Bearer"))

	resp, body = h.do(http.MethodGet, path, nil, "Authorization", "Bearer not-a-token")
	expectAPIError(g, resp, body, http.StatusUnauthorized, "900300")

	resp, body = h.do(http.MethodGet, path, nil, "Authorization", "Basic "+h.token)
	expectAPIError(g, resp, body, http.StatusUnauthorized, "900300")

	resp, _ = h.do(http.MethodGet, path, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound), "a valid token gets through")

	h.clock.Step(time.Minute)
	resp, body = h.do(http.MethodGet, path, nil)
	expectAPIError(g, resp, body, http.StatusUnauthorized, "900300")
	g.Expect(string(body)).To(ContainSubstring("expired"))
}

func TestUnknownCustomers(t *testing.T) {
	t.Run("nil GUID is always unknown", func(t *testing.T) {
		h := newHarness(t, Options{})
		resp, body := h.do(http.MethodPost, cartsPath(NilCustomerID), nil)
		expectAPIError(h.g, resp, body, http.StatusNotFound, "600002")
		h.g.Expect(h.srv.Stats().CartsCreated).To(BeZero())
	})
	t.Run("known customers list", func(t *testing.T) {
		h := newHarness(t, Options{KnownCustomers: []string{customerA}})
		resp, body := h.do(http.MethodGet, "/v1/customers/"+customerB+"/orders", nil)
		expectAPIError(h.g, resp, body, http.StatusNotFound, "600002")
		resp, _ = h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
		h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	})
}
