package partnercenter

import (
	"net/http"
	"strings"
	"time"
)

// Defaults for Config. Partner Center checkout is slow (the official SDK allows 3 minutes),
// so it gets a longer per-attempt deadline than the other calls.
const (
	DefaultEndpoint        = "https://api.partnercenter.microsoft.com"
	DefaultAuthorityHost   = "https://login.microsoftonline.com"
	DefaultScope           = "https://api.partnercenter.microsoft.com/.default"
	DefaultTimeout         = 30 * time.Second
	DefaultCheckoutTimeout = 120 * time.Second
	DefaultMaxRetries      = 3
	DefaultRetryBaseDelay  = 500 * time.Millisecond
	DefaultMaxRetryWait    = 5 * time.Second
)

// Config configures the HTTP implementation of Client. The zero value is usable: every
// unset field takes its default.
type Config struct {
	// Endpoint is the Partner Center API base URL. It comes from the manager's flags, never
	// from a PartnerCart, so no tenant can send the operator's bearer token elsewhere.
	Endpoint string
	// AuthorityHost is the Entra ID host; tokens come from {AuthorityHost}/{tenantId}/oauth2/v2.0/token.
	AuthorityHost string
	// Scope is the OAuth2 scope asked for in the client-credentials grant.
	Scope string

	// QPS and Burst bound the calls per partner tenant, shared by every client and worker of
	// that tenant. QPS <= 0 means unlimited. Burst <= 0 means max(1, ceil(QPS)).
	QPS   float64
	Burst int

	// Timeout bounds each HTTP attempt (and each token request).
	Timeout time.Duration
	// CheckoutTimeout bounds each checkout attempt.
	CheckoutTimeout time.Duration

	// MaxRetries is how many times a GET or PUT is retried after its first attempt. Zero
	// means DefaultMaxRetries; negative means no retries.
	MaxRetries int
	// RetryBaseDelay is the first backoff delay; it doubles per retry, with jitter.
	RetryBaseDelay time.Duration
	// MaxRetryWait is the longest Retry-After the client sleeps through inside a call. A
	// longer one (or a tenant pause ending later than that) is handed back to the caller as
	// a throttled error, so reconcile workers requeue instead of blocking.
	MaxRetryWait time.Duration

	// HTTPClient sends API and token requests. Nil means a client on http.DefaultTransport.
	// Deadlines come from contexts, so its Timeout can stay zero. Its CheckRedirect is
	// replaced (in a copy): redirects are never followed, so that neither the bearer token
	// nor the client secret can be sent to a host other than Endpoint and AuthorityHost.
	HTTPClient *http.Client
	// Observer is told about every HTTP attempt. Nil means nobody is told.
	Observer Observer
}

// withDefaults returns a copy of c with every unset field set to its default.
func (c Config) withDefaults() Config {
	c.Endpoint = strings.TrimRight(orDefault(c.Endpoint, DefaultEndpoint), "/")
	c.AuthorityHost = strings.TrimRight(orDefault(c.AuthorityHost, DefaultAuthorityHost), "/")
	c.Scope = orDefault(c.Scope, DefaultScope)
	if c.QPS > 0 && c.Burst <= 0 {
		c.Burst = max(1, int(c.QPS+0.999999))
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CheckoutTimeout <= 0 {
		c.CheckoutTimeout = DefaultCheckoutTimeout
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if c.MaxRetryWait <= 0 {
		c.MaxRetryWait = DefaultMaxRetryWait
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	}
	noRedirects := *c.HTTPClient // a copy: the caller's client is left as it was
	noRedirects.CheckRedirect = refuseRedirect
	c.HTTPClient = &noRedirects
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// redirectRefused is appended to the description of a 3xx answer.
const redirectRefused = "redirect not followed (credentials are sent only to the configured endpoints)"

// refuseRedirect is every HTTP client's CheckRedirect: the 3xx answer itself is returned,
// and becomes an *APIError of ClassTerminal.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func isRedirect(status int) bool { return status >= 300 && status < 400 }
