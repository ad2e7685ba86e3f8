package partnercenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenEarlyExpiry is how long before its expiry a token is replaced, so that a token never
// expires between being read here and arriving at Partner Center. A short-lived token is
// replaced after half its lifetime instead (see earlyExpiry), so that a 45 s token serves
// calls for 22 s rather than being fetched again for almost every call.
const tokenEarlyExpiry = 60 * time.Second

// earlyExpiry is the refresh margin of a token that lived lifetime when it was issued.
func earlyExpiry(lifetime time.Duration) time.Duration {
	if lifetime <= 0 {
		return tokenEarlyExpiry
	}
	return min(tokenEarlyExpiry, lifetime/2)
}

// tokenCache holds one app's access token and fetches a new one, with the client-credentials
// grant, when it is missing or about to expire. One fetch runs at a time; callers waiting for
// it give up when their context ends.
type tokenCache struct {
	conf       *clientcredentials.Config
	secret     string          // only to scrub it from anything the token endpoint echoes back
	assertion  assertionSource // nil: the client secret is sent
	httpClient *http.Client
	timeout    time.Duration
	observer   Observer
	clock      clock

	fetching chan struct{} // a one-slot semaphore: one token request at a time

	mu    sync.Mutex
	token *oauth2.Token
	// margin is the refresh margin of token, from its lifetime when issued.
	margin time.Duration
}

// TokenURL is the Entra ID v2.0 token endpoint of tenantID under authorityHost; it is also
// the audience of certificate client assertions.
func TokenURL(authorityHost, tenantID string) string {
	return strings.TrimRight(authorityHost, "/") + "/" + url.PathEscape(tenantID) + "/oauth2/v2.0/token"
}

func newTokenCache(cfg Config, creds Credentials, clk clock) (*tokenCache, error) {
	tokenURL := TokenURL(cfg.AuthorityHost, creds.TenantID)
	assertion, err := newAssertionSource(creds, tokenURL)
	if err != nil {
		return nil, err
	}
	conf := &clientcredentials.Config{
		ClientID: creds.ClientID,
		TokenURL: tokenURL,
		Scopes:   []string{cfg.Scope},
		// Entra ID takes the secret in the form body; saying so up front spares the
		// auto-detection's failed first request.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if assertion == nil {
		conf.ClientSecret = creds.ClientSecret
	}
	return &tokenCache{
		conf:       conf,
		secret:     conf.ClientSecret,
		assertion:  assertion,
		httpClient: cfg.HTTPClient,
		timeout:    cfg.Timeout,
		observer:   cfg.Observer,
		clock:      clk,
		fetching:   make(chan struct{}, 1),
	}, nil
}

// accessToken returns a token valid for at least tokenEarlyExpiry more.
func (t *tokenCache) accessToken(ctx context.Context) (string, error) {
	if token, ok := t.cached(); ok {
		return token, nil
	}
	select {
	case t.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("wait for access token: %w", ctx.Err())
	}
	defer func() { <-t.fetching }()

	// Whoever held the semaphore before us may have fetched one already.
	if token, ok := t.cached(); ok {
		return token, nil
	}
	token, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	lifetime := time.Duration(token.ExpiresIn) * time.Second
	if lifetime <= 0 && !token.Expiry.IsZero() {
		lifetime = token.Expiry.Sub(t.clock.Now())
	}
	t.mu.Lock()
	t.token, t.margin = token, earlyExpiry(lifetime)
	t.mu.Unlock()
	return token.AccessToken, nil
}

// cached returns the cached token if it outlives its refresh margin. Tokens without an
// expiry (expires_in absent) are kept until Partner Center refuses them.
func (t *tokenCache) cached() (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == nil || t.token.AccessToken == "" {
		return "", false
	}
	if !t.token.Expiry.IsZero() && t.token.Expiry.Sub(t.clock.Now()) <= t.margin {
		return "", false
	}
	return t.token.AccessToken, true
}

// invalidate drops the cached token after Partner Center refused it (revoked, say), so the
// next call fetches a new one. A newer token than the refused one is kept.
func (t *tokenCache) invalidate(refused string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != nil && t.token.AccessToken == refused {
		t.token = nil
	}
}

func (t *tokenCache) fetch(ctx context.Context) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.httpClient)

	conf := t.conf
	var assertion string
	if t.assertion != nil {
		var err error
		if assertion, err = t.assertion(t.clock.Now()); err != nil {
			return nil, &APIError{
				Operation: OpAcquireToken, StatusCode: http.StatusUnauthorized,
				Code: "invalid_credentials", Description: "client assertion: " + err.Error(),
			}
		}
		withAssertion := *t.conf
		withAssertion.EndpointParams = url.Values{
			"client_assertion_type": {ClientAssertionType},
			"client_assertion":      {assertion},
		}
		conf = &withAssertion
	}

	start := time.Now()
	token, err := conf.Token(ctx)
	t.observer.ObserveRequest(OpAcquireToken, tokenStatus(err), time.Since(start))
	if err != nil {
		return nil, t.tokenError(err, assertion)
	}
	return token, nil
}

// tokenStatus is the HTTP status of a token request for the Observer: 200, the refusal's
// status, or 0 when no answer came.
func tokenStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var retrieveErr *oauth2.RetrieveError
	if errors.As(err, &retrieveErr) && retrieveErr.Response != nil {
		return retrieveErr.Response.StatusCode
	}
	return 0
}

// tokenError turns a failed token request into the package's error types. A refusal of the
// credentials becomes a 401 *APIError (ClassUnauthorized) carrying the OAuth error code and
// description; a token endpoint that is down or throttling keeps its own status so the
// call is retried; no answer at all is a *TransportError. The body of the token endpoint's
// answer is never included: only its parsed code and description, with the secret scrubbed.
func (t *tokenCache) tokenError(err error, assertion string) error {
	sc := scrubber{t.secret, assertion}
	var retrieveErr *oauth2.RetrieveError
	if !errors.As(err, &retrieveErr) || retrieveErr.Response == nil {
		return &TransportError{Operation: OpAcquireToken, Err: fmt.Errorf("token request: %w", sc.scrubbed(err))}
	}
	status := retrieveErr.Response.StatusCode
	apiErr := &APIError{
		Operation:     OpAcquireToken,
		StatusCode:    status,
		Code:          sc.scrub(retrieveErr.ErrorCode),
		Description:   sc.scrub(stableEntraDescription(retrieveErr.ErrorDescription)),
		CorrelationID: entraCorrelationID(retrieveErr.Body),
		RetryAfter:    parseRetryAfter(retrieveErr.Response.Header.Get("Retry-After"), t.clock.Now()),
	}
	if apiErr.Description == "" {
		apiErr.Description = http.StatusText(status)
	}
	if isRedirect(status) {
		// Not followed: the form carried the client secret or assertion. ClassTerminal: AuthorityHost is wrong.
		apiErr.Description = http.StatusText(status) + ": " + redirectRefused
	}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		// Keep the status: these are worth retrying.
	case status >= 400:
		// invalid_client, unauthorized_client, invalid_scope, unknown tenant...: the
		// credentials are wrong, whatever status the authority chose to say it with.
		apiErr.StatusCode = http.StatusUnauthorized
	}
	return apiErr
}

// scrubber removes the credentials a token request carried (secret, assertion) from text.
type scrubber []string

func (sc scrubber) scrub(s string) string {
	for _, secret := range sc {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "<redacted>")
		}
	}
	return s
}

// scrubbed returns err with the credentials removed from its message, keeping it for
// errors.Is when there was nothing to remove.
func (sc scrubber) scrubbed(err error) error {
	if text := sc.scrub(err.Error()); text != err.Error() {
		return errors.New(text)
	}
	return err
}

// entraAnswerLines are the lines Entra ID appends to every error_description to name that one
// answer ("AADSTS7000215: Invalid client secret provided. ...\r\nTrace ID: ...\r\nCorrelation
// ID: ...\r\nTimestamp: ..."). They differ in every answer, so they are left out of the
// description: a refusal then reads the same each time, and a status that shows it is written
// once, not on every retry.
var entraAnswerLines = []string{"Trace ID:", "Correlation ID:", "Timestamp:"}

// stableEntraDescription is an Entra ID error_description without the lines that name the
// answer (entraAnswerLines) and on one line: its AADSTS code and what it means.
func stableEntraDescription(description string) string {
	for _, marker := range entraAnswerLines {
		// On its own line, or (older answers) run into the text after a space.
		if i := strings.Index(description, marker); i >= 0 {
			description = description[:i]
		}
	}
	return strings.Join(strings.Fields(description), " ")
}

// entraCorrelationID is the correlation_id of an Entra ID error answer, which identifies the
// request for Microsoft support; "" when the body has none.
func entraCorrelationID(body []byte) string {
	var answer struct {
		CorrelationID string `json:"correlation_id"`
	}
	if json.Unmarshal(body, &answer) != nil || !printableID(answer.CorrelationID) {
		return ""
	}
	return answer.CorrelationID
}

// printableID reports whether s looks like an identifier (a GUID, say): short, and only
// letters, digits and dashes.
func printableID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}
