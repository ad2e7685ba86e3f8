package pcsim

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	. "github.com/onsi/gomega"

	"github.com/partnercart/partnercart-operator/internal/partnercenter/authtest"
)

const (
	assertApp     = "app-cert"
	clusterIssuer = "https://cluster.example/issuer"
	managerSA     = "system:serviceaccount:partnercart-system:partnercart-controller-manager"
)

// assertionHarness is a pcsim with a secret, a certificate and a federated credential for
// one app.
type assertionHarness struct {
	*harness
	cert   authtest.Certificate
	issuer *authtest.Issuer
}

func newAssertionHarness(t *testing.T) *assertionHarness {
	cert := authtest.NewCertificate(t)
	issuer := authtest.NewIssuer(t, clusterIssuer)
	h := newHarness(t, Options{
		ClientID: assertApp, ClientSecret: "the-secret",
		ClientCertificates: []*x509.Certificate{cert.Cert},
		Federated:          &FederatedCredential{Issuer: clusterIssuer, Subject: managerSA, JWKS: issuer.JWKS(t)},
	})
	return &assertionHarness{harness: h, cert: cert, issuer: issuer}
}

func (h *assertionHarness) tokenURL() string { return h.ts.URL + "/tenant-1/oauth2/v2.0/token" }

// claims are good certificate-assertion claims at the simulator's now.
func (h *assertionHarness) claims() jwt.RegisteredClaims {
	now := h.clock.Now()
	return jwt.RegisteredClaims{
		Issuer: assertApp, Subject: assertApp, Audience: jwt.ClaimStrings{h.tokenURL()}, ID: uuid.NewString(),
		NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}
}

func (h *assertionHarness) postAssertion(assertion string, kv ...string) (*reply, []byte) {
	h.t.Helper()
	form := formWith(append([]string{"client_id", assertApp, "client_assertion_type", ClientAssertionType, "client_assertion", assertion}, kv...)...)
	return h.postForm("/tenant-1/oauth2/v2.0/token", form)
}

func expectOAuthError(g *WithT, resp *reply, body []byte, status int, code, prefix string) {
	g.ExpectWithOffset(1, resp.StatusCode).To(Equal(status), string(body))
	e := decode[oauthError](g, body)
	g.ExpectWithOffset(1, e.Error).To(Equal(code))
	g.ExpectWithOffset(1, e.ErrorDescription).To(HavePrefix(prefix))
}

func TestCertificateAssertions(t *testing.T) {
	h := newAssertionHarness(t)
	g := h.g
	other := authtest.NewCertificate(t)

	good := func(method jwt.SigningMethod) string { return h.cert.Sign(t, method, h.claims()) }
	with := func(change func(*jwt.RegisteredClaims)) string {
		c := h.claims()
		change(&c)
		return h.cert.Sign(t, jwt.SigningMethodPS256, c)
	}

	for _, method := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodPS256} {
		resp, body := h.postAssertion(good(method))
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
		g.Expect(decode[tokenResponse](g, body).AccessToken).NotTo(BeEmpty())
	}

	tests := []struct {
		name, assertion, prefix string
	}{
		{"unregistered certificate", other.Sign(t, jwt.SigningMethodPS256, h.claims()), "AADSTS700027"},
		{"signed by another key under the registered thumbprint", func() string {
			forged := other
			forged.Cert = h.cert.Cert // x5t#S256 of the registered certificate, signature of another key
			return forged.Sign(t, jwt.SigningMethodPS256, h.claims())
		}(), "AADSTS700027"},
		{"expired", with(func(c *jwt.RegisteredClaims) {
			c.NotBefore = jwt.NewNumericDate(h.clock.Now().Add(-10 * time.Minute))
			c.ExpiresAt = jwt.NewNumericDate(h.clock.Now().Add(-5 * time.Minute))
		}), "AADSTS700024"},
		{"not yet valid", with(func(c *jwt.RegisteredClaims) { c.NotBefore = jwt.NewNumericDate(h.clock.Now().Add(2 * time.Minute)) }), "AADSTS700024"},
		{"longer than 10 minutes", with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(h.clock.Now().Add(11 * time.Minute)) }), "AADSTS700024"},
		{"no exp", with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }), "AADSTS700024"},
		{"wrong audience", with(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"https://login.example/other/token"} }), "AADSTS700023"},
		{"subject is not the client", with(func(c *jwt.RegisteredClaims) { c.Subject = "someone-else" }), "AADSTS700021"},
		{"no jti", with(func(c *jwt.RegisteredClaims) { c.ID = "" }), "AADSTS700027"},
		{"not a JWT", "not-a-jwt", "AADSTS50027"},
		{"issuer neither the client nor trusted", with(func(c *jwt.RegisteredClaims) { c.Issuer = "https://evil.example" }), "AADSTS700211"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.postAssertion(tc.assertion)
			expectOAuthError(NewWithT(t), resp, body, http.StatusUnauthorized, "invalid_client", tc.prefix)
			NewWithT(t).Expect(string(body)).NotTo(ContainSubstring(tc.assertion), "never echo an assertion")
		})
	}

	t.Run("HS256 with the public key as the secret", func(t *testing.T) {
		token := jwt.NewWithClaims(jwt.SigningMethodHS256, h.claims())
		token.Header["x5t#S256"] = h.cert.Thumbprint()
		signed, err := token.SignedString(h.cert.Cert.RawSubjectPublicKeyInfo)
		g.Expect(err).NotTo(HaveOccurred())
		resp, body := h.postAssertion(signed)
		expectOAuthError(NewWithT(t), resp, body, http.StatusUnauthorized, "invalid_client", "AADSTS700027")
	})

	t.Run("malformed requests", func(t *testing.T) {
		g := NewWithT(t)
		resp, body := h.postAssertion(good(jwt.SigningMethodPS256), "client_assertion_type", "urn:other")
		expectOAuthError(g, resp, body, http.StatusBadRequest, "invalid_request", "AADSTS900144")
		resp, body = h.postAssertion(good(jwt.SigningMethodPS256), "client_secret", "the-secret")
		expectOAuthError(g, resp, body, http.StatusBadRequest, "invalid_request", "AADSTS90015")
		resp, body = h.postAssertion(good(jwt.SigningMethodPS256), "client_id", "app-unknown")
		expectOAuthError(g, resp, body, http.StatusBadRequest, "unauthorized_client", "AADSTS700016")
		resp, body = h.postAssertion("", "client_assertion", "")
		expectOAuthError(g, resp, body, http.StatusBadRequest, "invalid_request", "AADSTS900144")
	})
}

func TestFederatedAssertions(t *testing.T) {
	h := newAssertionHarness(t)
	g := h.g
	now := h.clock.Now()

	resp, body := h.postAssertion(h.issuer.Token(t, managerSA, DefaultFederatedAudience, now, time.Hour))
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))

	untrusted := authtest.NewIssuer(t, clusterIssuer) // same issuer URL, another key
	tests := []struct {
		name, assertion, prefix string
	}{
		{"other audience", h.issuer.Token(t, managerSA, "api://other", now, time.Hour), "AADSTS700212"},
		{"other subject", h.issuer.Token(t, "system:serviceaccount:tenant-a:default", DefaultFederatedAudience, now, time.Hour), "AADSTS700213"},
		{"expired", h.issuer.Token(t, managerSA, DefaultFederatedAudience, now.Add(-2*time.Hour), time.Hour), "AADSTS700024"},
		{"unknown key", untrusted.Token(t, managerSA, DefaultFederatedAudience, now, time.Hour), "AADSTS700027"},
		{"other issuer", authtest.NewIssuer(t, "https://other.example").Token(t, managerSA, DefaultFederatedAudience, now, time.Hour), "AADSTS700211"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.postAssertion(tc.assertion)
			expectOAuthError(NewWithT(t), resp, body, http.StatusUnauthorized, "invalid_client", tc.prefix)
		})
	}
}

func TestAppWithoutSecretRefusesSecrets(t *testing.T) {
	g := NewWithT(t)
	cert := authtest.NewCertificate(t)
	srv, err := New(Options{ClientID: assertApp, ClientCertificates: []*x509.Certificate{cert.Cert}})
	g.Expect(err).NotTo(HaveOccurred())
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h := &harness{t: t, g: g, srv: srv, ts: ts, clock: newFakeClock()}

	resp, body := h.postForm("/tenant-1/oauth2/v2.0/token", formWith("client_id", assertApp, "client_secret", "guess"))
	expectOAuthError(g, resp, body, http.StatusUnauthorized, "invalid_client", "AADSTS7000215")

	_, err = New(Options{ClientID: assertApp})
	g.Expect(err).To(MatchError(ContainSubstring("required")))
	_, err = New(Options{Federated: &FederatedCredential{Issuer: clusterIssuer, JWKS: []byte(`{"keys":[]}`)}})
	g.Expect(err).To(MatchError(ContainSubstring("no keys")))
}
