package partnercenter

import (
	"context"
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
// expires between being read here and arriving at Partner Center.
const tokenEarlyExpiry = 60 * time.Second

// tokenCache holds one app's access token and fetches a new one, with the client-credentials
// grant, when it is missing or about to expire. One fetch runs at a time; callers waiting for
// it give up when their context ends.
type tokenCache struct {
	conf       *clientcredentials.Config
	secret     string // only to scrub it from anything the token endpoint echoes back
	httpClient *http.Client
	timeout    time.Duration
	observer   Observer
	clock      clock

	fetching chan struct{} // a one-slot semaphore: one token request at a time

	mu    sync.Mutex
	token *oauth2.Token
}

func newTokenCache(cfg Config, creds Credentials, clk clock) *tokenCache {
	return &tokenCache{
		conf: &clientcredentials.Config{
			ClientID:     creds.ClientID,
			ClientSecret: creds.ClientSecret,
			TokenURL:     cfg.AuthorityHost + "/" + url.PathEscape(creds.TenantID) + "/oauth2/v2.0/token",
			Scopes:       []string{cfg.Scope},
			// Entra ID takes the secret in the form body; saying so up front spares the
			// auto-detection's failed first request.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		secret:     creds.ClientSecret,
		httpClient: cfg.HTTPClient,
		timeout:    cfg.Timeout,
		observer:   cfg.Observer,
		clock:      clk,
		fetching:   make(chan struct{}, 1),
	}
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
	t.mu.Lock()
	t.token = token
	t.mu.Unlock()
	return token.AccessToken, nil
}

// cached returns the cached token if it outlives the early-expiry window. Tokens without an
// expiry (expires_in absent) are kept until Partner Center refuses them.
func (t *tokenCache) cached() (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == nil || t.token.AccessToken == "" {
		return "", false
	}
	if !t.token.Expiry.IsZero() && t.token.Expiry.Sub(t.clock.Now()) <= tokenEarlyExpiry {
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

	start := time.Now()
	token, err := t.conf.Token(ctx)
	t.observer.ObserveRequest(OpAcquireToken, tokenStatus(err), time.Since(start))
	if err != nil {
		return nil, t.tokenError(err)
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
func (t *tokenCache) tokenError(err error) error {
	var retrieveErr *oauth2.RetrieveError
	if !errors.As(err, &retrieveErr) || retrieveErr.Response == nil {
		return &TransportError{Operation: OpAcquireToken, Err: fmt.Errorf("token request: %w", t.scrubbed(err))}
	}
	status := retrieveErr.Response.StatusCode
	apiErr := &APIError{
		Operation:   OpAcquireToken,
		StatusCode:  status,
		Code:        t.scrub(retrieveErr.ErrorCode),
		Description: t.scrub(retrieveErr.ErrorDescription),
		RetryAfter:  parseRetryAfter(retrieveErr.Response.Header.Get("Retry-After"), t.clock.Now()),
	}
	if apiErr.Description == "" {
		apiErr.Description = http.StatusText(status)
	}
	if isRedirect(status) {
		// Not followed: the form carried the client secret. ClassTerminal: AuthorityHost is wrong.
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

func (t *tokenCache) scrub(s string) string {
	if t.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, t.secret, "<redacted>")
}

// scrubbed returns err with the secret removed from its message, keeping it for errors.Is
// when there was nothing to remove.
func (t *tokenCache) scrubbed(err error) error {
	if t.secret == "" || !strings.Contains(err.Error(), t.secret) {
		return err
	}
	return errors.New(t.scrub(err.Error()))
}
