package partnercenter

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestTokenIsFetchedOnceForManyCalls(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _, _ = c.GetCart(ctx, "cust", "cart-1") })
	}
	wg.Wait()

	tokens := s.TokenRequests()
	g.Expect(tokens).To(HaveLen(1))
	g.Expect(tokens[0].Path).To(Equal("/" + testTenant + "/oauth2/v2.0/token"))
	g.Expect(tokens[0].Form.Get("grant_type")).To(Equal("client_credentials"))
	g.Expect(tokens[0].Form.Get("client_id")).To(Equal(testClientID))
	g.Expect(tokens[0].Form.Get("scope")).To(Equal(DefaultScope))
	g.Expect(s.Requests()).To(HaveLen(10))
	for _, r := range s.Requests() {
		g.Expect(r.Header.Get("Authorization")).To(Equal("Bearer tok-1"))
	}
}

func TestTokenIsRefreshedBeforeItExpires(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	s.SetExpiresIn(120)
	f, clk := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	_, _ = c.GetCart(ctx, "cust", "cart-1")
	clk.Advance(30 * time.Second) // 90s left: more than the 60s early-expiry window
	_, _ = c.GetCart(ctx, "cust", "cart-1")
	g.Expect(s.TokenRequests()).To(HaveLen(1))

	clk.Advance(31 * time.Second) // 59s left: replace it now
	_, _ = c.GetCart(ctx, "cust", "cart-1")

	g.Expect(s.TokenRequests()).To(HaveLen(2))
	reqs := s.Requests()
	g.Expect(reqs[1].Header.Get("Authorization")).To(Equal("Bearer tok-1"))
	g.Expect(reqs[2].Header.Get("Authorization")).To(Equal("Bearer tok-2"))
}

func TestRefusedCredentialsAreUnauthorizedAndNeverLeakTheSecret(t *testing.T) {
	descriptions := map[string]string{
		"plain":  "AADSTS7000215: Invalid client secret provided.",
		"echoed": "AADSTS7000215: Invalid client secret provided: " + testSecret,
	}
	for name, description := range descriptions {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, nil)
			s.SetTokenHandler(func(w http.ResponseWriter, _ *http.Request, _ int) {
				reply(w, http.StatusUnauthorized, fmt.Sprintf(`{"error":"invalid_client","error_description":%q}`, description))
			})
			f, _ := newTestFactory(s, nil)

			_, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

			g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
			g.Expect(errors.Is(err, ErrUnauthorized)).To(BeTrue())
			var apiErr *APIError
			g.Expect(errors.As(err, &apiErr)).To(BeTrue())
			g.Expect(apiErr.Operation).To(Equal(OpAcquireToken))
			g.Expect(apiErr.Code).To(Equal("invalid_client"))
			g.Expect(apiErr.Description).To(HavePrefix("AADSTS7000215"))
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", apiErr)} {
				g.Expect(text).NotTo(ContainSubstring(testSecret))
			}
			g.Expect(s.Requests()).To(BeEmpty(), "nothing is sent without a token")
			g.Expect(s.TokenRequests()).To(HaveLen(1), "a refusal is not retried")
		})
	}
}

// entraRefusal is an answer of Entra ID's token endpoint to a wrong client secret, as it comes:
// the description ends with lines naming this one answer.
func entraRefusal(traceID, correlationID, timestamp string) string {
	return fmt.Sprintf(`{"error":"invalid_client","error_description":%q,"error_codes":[7000215],"timestamp":%q,"trace_id":%q,"correlation_id":%q,"error_uri":"https://login.microsoftonline.com/error?code=7000215"}`,
		"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+testClientID+"'.\r\n"+
			"Trace ID: "+traceID+"\r\nCorrelation ID: "+correlationID+"\r\nTimestamp: "+timestamp,
		timestamp, traceID, correlationID)
}

// Two refusals that differ only in the IDs and time of the answer read the same: the status
// that shows them is not rewritten (and its watchers not woken) on every retry.
func TestEntraRefusalReadsTheSameEachTime(t *testing.T) {
	g := NewWithT(t)
	answers := []string{
		entraRefusal("0b6e5c3a-1f2d-4e8b-9a7c-3d4e5f607182", "5f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f", "2026-12-04 18:57:38Z"),
		entraRefusal("9d8c7b6a-5f4e-3d2c-1b0a-998877665544", "11223344-5566-7788-99aa-bbccddeeff00", "2026-12-04 18:58:09Z"),
	}
	var texts []string
	for i, answer := range answers {
		s := newPCServer(t, nil)
		s.SetTokenHandler(func(w http.ResponseWriter, _ *http.Request, _ int) {
			reply(w, http.StatusUnauthorized, answer)
		})
		f, _ := newTestFactory(s, nil)
		err := mustClient(t, f, testCreds).(TokenProver).ProveToken(ctx)
		g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
		var apiErr *APIError
		g.Expect(errors.As(err, &apiErr)).To(BeTrue())
		g.Expect(apiErr.CorrelationID).NotTo(BeEmpty(), "kept for support, out of the message")
		g.Expect(err.Error()).NotTo(ContainSubstring(apiErr.CorrelationID), "answer %d", i)
		texts = append(texts, err.Error())
	}
	g.Expect(texts[0]).To(Equal(texts[1]))
	g.Expect(texts[0]).To(ContainSubstring("AADSTS7000215: Invalid client secret provided."))
	g.Expect(texts[0]).To(HaveSuffix("for a secret added to app '" + testClientID + "'."))
	for _, perAnswer := range []string{"\r", "\n", "Trace ID", "Correlation ID", "Timestamp", "2026-12-04"} {
		g.Expect(texts[0]).NotTo(ContainSubstring(perAnswer))
	}
}

func TestTokenEndpointRefusalStatusesAreUnauthorized(t *testing.T) {
	for _, code := range []int{400, 401, 403} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, nil)
			s.SetTokenHandler(func(w http.ResponseWriter, _ *http.Request, _ int) {
				reply(w, code, `{"error":"unauthorized_client","error_description":"AADSTS700016: app not found"}`)
			})
			f, _ := newTestFactory(s, nil)

			_, err := mustClient(t, f, testCreds).Checkout(ctx, "cust", "cart-1", "req-1")

			g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
			g.Expect(ErrorCode(err)).To(Equal("unauthorized_client"))
		})
	}
}

func TestTokenEndpointOutageIsRetried(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	s.SetTokenHandler(func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n {
		case 0:
			reply(w, http.StatusServiceUnavailable, `<html>down</html>`, "Content-Type", "text/html")
		case 1:
			dropConnection(w)
		default:
			reply(w, http.StatusOK, `{"token_type":"Bearer","access_token":"tok-ok","expires_in":3600}`)
		}
	})
	f, _ := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	// A POST is not retried: the token failure comes back, retryable, and nothing was sent.
	_, err := c.Checkout(ctx, "cust", "cart-1", "req-1")
	g.Expect(Classify(err)).To(Equal(ClassRetryable))
	var apiErr *APIError
	g.Expect(errors.As(err, &apiErr)).To(BeTrue())
	g.Expect(apiErr.StatusCode).To(Equal(http.StatusServiceUnavailable))
	g.Expect(s.Requests()).To(BeEmpty())

	// A GET retries through the dropped connection and gets its answer.
	_, err = c.GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.TokenRequests()).To(HaveLen(3))
	g.Expect(s.Requests()[0].Header.Get("Authorization")).To(Equal("Bearer tok-ok"))
}

func TestRefusedTokenIsDropped(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(status(401, `{"code":900420,"description":"bad audience"}`), status(200, `{}`)))
	f, _ := newTestFactory(s, nil)
	c := mustClient(t, f, testCreds)

	_, err := c.GetCart(ctx, "cust", "cart-1")
	g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
	_, err = c.GetCart(ctx, "cust", "cart-1")
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(s.TokenRequests()).To(HaveLen(2))
	g.Expect(s.Requests()[1].Header.Get("Authorization")).To(Equal("Bearer tok-2"))
}

func TestClientsAreCachedPerCredentials(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, nil)
	f, _ := newTestFactory(s, nil)

	first := mustClient(t, f, testCreds)
	again := mustClient(t, f, testCreds)
	rotated := testCreds
	rotated.ClientSecret = "a-new-secret"
	afterRotation := mustClient(t, f, rotated)

	g.Expect(again).To(BeIdenticalTo(first))
	g.Expect(afterRotation).NotTo(BeIdenticalTo(first))

	_, _ = first.GetCart(ctx, "cust", "cart-1")
	_, _ = afterRotation.GetCart(ctx, "cust", "cart-1")
	tokens := s.TokenRequests()
	g.Expect(tokens).To(HaveLen(2), "the rotated secret gets its own token at once")
	g.Expect(tokens[1].Form.Get("client_secret")).To(Equal("a-new-secret"))
}

func TestIncompleteCredentialsAreRefused(t *testing.T) {
	tests := map[string]Credentials{
		"no tenant":       {ClientID: "c", ClientSecret: "s"},
		"path in tenant":  {TenantID: "../common", ClientID: "c", ClientSecret: "s"},
		"slash in tenant": {TenantID: "a/b", ClientID: "c", ClientSecret: "s"},
		"no client ID":    {TenantID: "contoso.onmicrosoft.com", ClientSecret: "s"},
		"no secret":       {TenantID: "contoso.onmicrosoft.com", ClientID: "c"},
	}
	for name, creds := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := NewFactory(Config{}).ClientFor(creds)
			g.Expect(Classify(err)).To(Equal(ClassUnauthorized))
		})
	}
	_, err := NewFactory(Config{}).ClientFor(Credentials{TenantID: "contoso.onmicrosoft.com", ClientID: "c", ClientSecret: "s"})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
}

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	g := NewWithT(t)
	for _, text := range []string{fmt.Sprint(testCreds), fmt.Sprintf("%v %+v %#v %s", testCreds, testCreds, testCreds, testCreds)} {
		g.Expect(text).NotTo(ContainSubstring(testSecret))
	}
}
