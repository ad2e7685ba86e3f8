package partnercenter

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/gomega"

	"github.com/partnercart/partnercart-operator/internal/partnercenter/authtest"
)

func certCreds(cert authtest.Certificate) Credentials {
	return Credentials{
		TenantID: testTenant, ClientID: testClientID, Account: "contoso",
		Method: AuthCertificate, CertificatePEM: cert.CertPEM, PrivateKeyPEM: cert.KeyPEM,
	}
}

// parseAssertion verifies a certificate client assertion's signature; the test checks its
// times itself (they follow the fake clock).
func parseAssertion(g Gomega, assertion string, cert *x509.Certificate, alg string) (*jwt.Token, *jwt.RegisteredClaims) {
	claims := &jwt.RegisteredClaims{}
	token, err := jwt.ParseWithClaims(assertion, claims, func(*jwt.Token) (any, error) { return cert.PublicKey, nil },
		jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation())
	g.Expect(err).NotTo(HaveOccurred())
	return token, claims
}

func TestCertificateAssertion(t *testing.T) {
	cert := authtest.NewCertificate(t)
	for _, alg := range []string{"", "RS256", "PS256"} {
		t.Run("alg "+alg, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, nil)
			f, clk := newTestFactory(s, nil)
			creds := certCreds(cert)
			creds.SigningAlgorithm = alg
			c := mustClient(t, f, creds)

			_, err := c.GetCart(ctx, "cust", "cart-1")
			g.Expect(err).NotTo(HaveOccurred())
			s.SetExpiresIn(1) // the next token lives 1 s, so the third call fetches again
			clk.Advance(time.Hour)
			_, _ = c.GetCart(ctx, "cust", "cart-1")
			_, _ = c.GetCart(ctx, "cust", "cart-1")

			tokens := s.TokenRequests()
			g.Expect(tokens).To(HaveLen(3))
			form := tokens[0].Form
			g.Expect(form.Get("client_assertion_type")).To(Equal("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
			g.Expect(form.Get("client_id")).To(Equal(testClientID))
			g.Expect(form.Has("client_secret")).To(BeFalse())

			want := alg
			if want == "" {
				want = "PS256"
			}
			token, claims := parseAssertion(g, form.Get("client_assertion"), cert.Cert, want)
			g.Expect(token.Header["x5t#S256"]).To(Equal(CertificateThumbprint(cert.Cert)))
			g.Expect(token.Header).NotTo(HaveKey("x5t"), "SHA-1 thumbprints are not sent")
			g.Expect(claims.Issuer).To(Equal(testClientID))
			g.Expect(claims.Subject).To(Equal(testClientID))
			g.Expect([]string(claims.Audience)).To(Equal([]string{s.srv.URL + "/" + testTenant + "/oauth2/v2.0/token"}))
			g.Expect(claims.ID).NotTo(BeEmpty())
			g.Expect(claims.ExpiresAt.Sub(claims.NotBefore.Time)).To(BeNumerically("<=", 10*time.Minute))
			g.Expect(claims.ExpiresAt.Sub(claims.NotBefore.Time)).To(BeNumerically(">", 0))

			// Every token request gets a fresh assertion: new jti, signed at the time of the request.
			_, later := parseAssertion(g, tokens[2].Form.Get("client_assertion"), cert.Cert, want)
			g.Expect(later.ID).NotTo(Equal(claims.ID))
			g.Expect(later.NotBefore.Sub(claims.NotBefore.Time)).To(BeNumerically("~", time.Hour, time.Second))
		})
	}
}

func TestCertificateRotationGetsANewClientAndToken(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)
	first, second := authtest.NewCertificate(t), authtest.NewCertificate(t)

	c1 := mustClient(t, f, certCreds(first))
	g.Expect(mustClient(t, f, certCreds(first))).To(BeIdenticalTo(c1))
	c2 := mustClient(t, f, certCreds(second))
	g.Expect(c2).NotTo(BeIdenticalTo(c1))
	other := certCreds(first)
	other.Account = "fabrikam"
	g.Expect(mustClient(t, f, other)).NotTo(BeIdenticalTo(c1), "tokens are cached per account")

	_, _ = c1.GetCart(ctx, "cust", "cart-1")
	_, _ = c2.GetCart(ctx, "cust", "cart-1")
	tokens := s.TokenRequests()
	g.Expect(tokens).To(HaveLen(2))
	parseAssertion(g, tokens[1].Form.Get("client_assertion"), second.Cert, "PS256")
}

func TestBadCertificatesAreRefusedWithoutARequest(t *testing.T) {
	good, other, ec := authtest.NewCertificate(t), authtest.NewCertificate(t), authtest.NewECCertificate(t)
	tests := map[string]Credentials{
		"no key":         {CertificatePEM: good.CertPEM},
		"no certificate": {PrivateKeyPEM: good.KeyPEM},
		"mismatched key": {CertificatePEM: good.CertPEM, PrivateKeyPEM: other.KeyPEM},
		"not PEM":        {CertificatePEM: "not a certificate", PrivateKeyPEM: good.KeyPEM},
		"ECDSA key":      {CertificatePEM: ec.CertPEM, PrivateKeyPEM: ec.KeyPEM},
		"HS256":          {CertificatePEM: good.CertPEM, PrivateKeyPEM: good.KeyPEM, SigningAlgorithm: "HS256"},
	}
	for name, creds := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, nil)
			f, _ := newTestFactory(s, nil)
			creds.TenantID, creds.ClientID, creds.Method = testTenant, testClientID, AuthCertificate
			_, err := f.ClientFor(creds)
			g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
			g.Expect(err.Error()).NotTo(ContainSubstring("PRIVATE KEY"))
			g.Expect(err.Error()).NotTo(ContainSubstring(good.KeyPEM[40:80]))
			g.Expect(s.TokenRequests()).To(BeEmpty())
		})
	}
}

func TestWorkloadIdentityAssertionFollowsTheTokenFile(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	s.SetExpiresIn(600)
	f, clk := newTestFactory(s, nil)
	path := authtest.WriteTokenFile(t, "", "sa-token-1")
	creds := Credentials{TenantID: testTenant, ClientID: testClientID, Method: AuthWorkloadIdentity, TokenFile: path}
	c := mustClient(t, f, creds)

	_, err := c.GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())
	authtest.WriteTokenFile(t, path, "sa-token-2\n") // the kubelet rotates the projected token
	clk.Advance(10 * time.Minute)
	g.Expect(mustClient(t, f, creds)).To(BeIdenticalTo(c), "rotation needs no new client")
	_, err = c.GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())

	tokens := s.TokenRequests()
	g.Expect(tokens).To(HaveLen(2))
	for i, want := range []string{"sa-token-1", "sa-token-2"} {
		g.Expect(tokens[i].Form.Get("client_assertion")).To(Equal(want))
		g.Expect(tokens[i].Form.Get("client_assertion_type")).To(Equal(ClientAssertionType))
		g.Expect(tokens[i].Form.Has("client_secret")).To(BeFalse())
	}
}

func TestWorkloadIdentityWithoutTokenFile(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)

	_, err := f.ClientFor(Credentials{TenantID: testTenant, ClientID: testClientID, Method: AuthWorkloadIdentity})
	g.Expect(Classify(err)).To(Equal(ClassUnauthorized))

	missing := filepath.Join(t.TempDir(), "absent")
	c := mustClient(t, f, Credentials{TenantID: testTenant, ClientID: testClientID, Method: AuthWorkloadIdentity, TokenFile: missing})
	_, err = c.GetCart(ctx, "cust", "cart-1")
	g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
	g.Expect(err.Error()).To(ContainSubstring("no such file"))
	g.Expect(s.TokenRequests()).To(BeEmpty())

	g.Expect(os.WriteFile(missing, []byte("sa-token"), 0o600)).To(Succeed())
	_, err = c.GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred(), "a file that appears later is used")
}

func TestWorkloadIdentityTokenMustCarryTheAccountsAudience(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)
	issuer := authtest.NewIssuer(t, "https://cluster.example")
	const subject = "system:serviceaccount:partnercart-system:partnercart-controller-manager"
	token := issuer.Token(t, subject, DefaultWorkloadIdentityAudience, time.Now(), time.Hour)
	path := authtest.WriteTokenFile(t, "", token)
	creds := func(audience string) Credentials {
		return Credentials{TenantID: testTenant, ClientID: testClientID, Method: AuthWorkloadIdentity, TokenFile: path, TokenAudience: audience}
	}

	// The account names an audience the projected token does not carry: nothing is sent.
	_, err := mustClient(t, f, creds("api://other")).GetCart(ctx, "cust", "cart-1")
	g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
	g.Expect(err.Error()).To(And(ContainSubstring(`"api://other"`), ContainSubstring(`"api://AzureADTokenExchange"`), ContainSubstring(path)))
	g.Expect(err.Error()).NotTo(ContainSubstring(token[:20]), "the token itself is never quoted")
	g.Expect(s.TokenRequests()).To(BeEmpty())

	// A file that holds no JWT cannot carry any audience.
	garbage := authtest.WriteTokenFile(t, "", "not-a-jwt")
	_, err = mustClient(t, f, Credentials{TenantID: testTenant, ClientID: testClientID, Method: AuthWorkloadIdentity,
		TokenFile: garbage, TokenAudience: DefaultWorkloadIdentityAudience}).GetCart(ctx, "cust", "cart-1")
	g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
	g.Expect(err.Error()).To(ContainSubstring("is not a JWT"))
	g.Expect(s.TokenRequests()).To(BeEmpty())

	// The audience it carries: the token is presented as it is.
	_, err = mustClient(t, f, creds(DefaultWorkloadIdentityAudience)).GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.TokenRequests()).To(HaveLen(1))
	g.Expect(s.TokenRequests()[0].Form.Get("client_assertion")).To(Equal(token))
}

func TestRefusedAssertionIsNeverEchoed(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	s.SetTokenHandler(func(w http.ResponseWriter, r *http.Request, _ int) {
		_ = r.ParseForm()
		reply(w, http.StatusBadRequest, fmt.Sprintf(`{"error":"invalid_client","error_description":"AADSTS700027: bad assertion %s"}`,
			r.PostForm.Get("client_assertion")))
	})
	f, _ := newTestFactory(s, nil)
	cert := authtest.NewCertificate(t)

	_, err := mustClient(t, f, certCreds(cert)).GetCart(ctx, "cust", "cart-1")

	g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
	g.Expect(err.Error()).To(ContainSubstring("AADSTS700027"))
	assertion := s.TokenRequests()[0].Form.Get("client_assertion")
	g.Expect(assertion).NotTo(BeEmpty())
	g.Expect(err.Error()).NotTo(ContainSubstring(assertion))
	g.Expect(fmt.Sprintf("%+v %#v", err, certCreds(cert))).NotTo(ContainSubstring(cert.KeyPEM[40:80]))
}

func TestShortLivedTokensServeHalfTheirLifetime(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	s.SetExpiresIn(45)
	f, clk := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	for range 3 { // at 0 s, 10 s and 20 s: 25 s left is more than half of 45 s
		_, _ = c.GetCart(ctx, "cust", "cart-1")
		clk.Advance(10 * time.Second)
	}
	g.Expect(s.TokenRequests()).To(HaveLen(1))

	_, _ = c.GetCart(ctx, "cust", "cart-1") // at 30 s, 15 s left: replace it
	g.Expect(s.TokenRequests()).To(HaveLen(2))
}
