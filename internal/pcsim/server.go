// Package pcsim is a Partner Center simulator: a real HTTP server speaking the wire format
// of internal/partnercenter for the token endpoint, carts and orders, with per-line
// validation from a small catalog, MS-RequestId replay, idempotent checkout, cart expiry,
// orders that complete after a delay, and seeded fault injection. Integration tests run it
// in-process through Server.ServeHTTP; cmd/pcsim serves it on a port.
package pcsim

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultCartTTL            = 168 * time.Hour
	DefaultOrderCompleteAfter = 5 * time.Second
	DefaultTokenTTL           = time.Hour
)

// NilCustomerID is always an unknown customer, so tests can reach the 404 path.
const NilCustomerID = "00000000-0000-0000-0000-000000000000"

// Options configure a Server. Zero values mean the defaults.
type Options struct {
	// ClientID and ClientSecret: when ClientID is set only that pair gets a token; when it
	// is unset any non-empty pair does.
	ClientID, ClientSecret string
	// ClientCertificates are registered for the app: a certificate client assertion (iss =
	// sub = client_id) must be signed by one of them, named by its x5t#S256 header.
	ClientCertificates []*x509.Certificate
	// Federated trusts the service-account tokens of one issuer as client assertions.
	Federated *FederatedCredential
	// Customers names the partner's customers (tenant ID -> company name). Any other
	// customer ID is a customer too, named "Customer <first 8 characters>"; pcsim keeps no
	// customer list of its own.
	Customers map[string]string
	// Catalog sells the products; nil means DefaultCatalog().
	Catalog *Catalog
	// CartTTL is the time from creation to expiry (default 168h).
	CartTTL time.Duration
	// OrderCompleteAfter is the time after which a pending order reaches its final status
	// (default 5s). Completion is evaluated on read, so no goroutine runs in the background.
	OrderCompleteAfter time.Duration
	// TokenTTL is the lifetime of access tokens (default 1h).
	TokenTTL time.Duration
	// Latency is added to every API request (token and /v1), not to admin requests.
	Latency time.Duration
	// CheckoutDuration is how long a checkout holds its cart before the orders exist
	// (default 0). A concurrent checkout of the same cart meanwhile gets 409 800064.
	// It is wall-clock time, independent of Now.
	CheckoutDuration time.Duration
	// Faults are injected into /v1 requests; they can change at runtime with SetFaults.
	Faults Faults
	// Seed makes fault decisions reproducible for the same sequence of requests.
	Seed int64
	// Now is the clock (default time.Now); tests inject one to expire carts and complete orders.
	Now func() time.Time
	// KnownCustomers restricts the customers that exist; empty means all of them except
	// NilCustomerID.
	KnownCustomers []string
	// OrderGroupPerLine puts every top-level cart line (with its add-ons) in an order group
	// of its own, so that a checkout makes one order per line: lines of one billing cycle
	// split across orders, which Partner Center may do. Default: lines are grouped as in its
	// published multi-type cart (see orderGroups).
	OrderGroupPerLine bool
	// OrdersPageSize is how many orders one page of GET .../orders holds; while more follow,
	// the answer's links.next carries the next page's URI and MS-ContinuationToken, as Partner
	// Center's collections do. 0: every order in one page.
	OrdersPageSize int
	// OrderListingDelay is how long after its creation an order first appears in GET
	// .../orders; Partner Center documents up to 15 minutes. GET .../orders/{id} and the
	// checkout answer show it at once. 0: listed at once.
	OrderListingDelay time.Duration
	// RateLimit is each partner tenant's budget of /v1 requests per minute (sliding window);
	// a request over it gets Partner Center's 429 with Retry-After (ratelimit.go). pcsim
	// knows the tenant by the bearer token's app (client ID). 0: unlimited.
	RateLimit int
}

// Server is the simulator. It is safe for concurrent use.
type Server struct {
	opts    Options
	catalog *Catalog
	known   map[string]bool
	mux     *http.ServeMux

	faults *faultInjector
	stats  *statsRecorder
	tokens *shardedMap[tokenInfo]
	carts  *shardedMap[*cart]
	orders *shardedMap[*order]
	// customerOrders lists each customer's order IDs in creation order (GET .../orders).
	customerOrders *shardedMap[*orderList]
	replay         *replayStore
	// assertionKeys verify client assertions (auth_assertion.go).
	assertionKeys assertionKeys
	// rateLimiter enforces Options.RateLimit; nil when unlimited.
	rateLimiter *rateLimiter

	// subscriptions are keyed by subscription ID (subscriptions.go); allSubs lists them in
	// creation order.
	subscriptions *shardedMap[*subscription]
	allSubsMu     sync.Mutex
	allSubs       []*subscription

	// allOrders lists every order in creation order for Orders().
	allOrdersMu sync.Mutex
	allOrders   []*order

	// checkoutHook, when set by tests, runs while a checkout holds its cart.
	checkoutHook func(cartID string)
}

// New returns a Server with opts' defaults filled in.
func New(opts Options) (*Server, error) {
	if err := opts.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("invalid faults: %w", err)
	}
	if opts.ClientID != "" && opts.ClientSecret == "" && len(opts.ClientCertificates) == 0 && opts.Federated == nil {
		return nil, errors.New("a client secret, certificate or federated credential is required when a client ID is set")
	}
	keys, err := newAssertionKeys(opts)
	if err != nil {
		return nil, err
	}
	for name, d := range map[string]time.Duration{
		"cart TTL": opts.CartTTL, "order completion delay": opts.OrderCompleteAfter, "token TTL": opts.TokenTTL,
		"latency": opts.Latency, "checkout duration": opts.CheckoutDuration, "order listing delay": opts.OrderListingDelay,
	} {
		if d < 0 {
			return nil, fmt.Errorf("%s must not be negative, got %s", name, d)
		}
	}
	if opts.OrdersPageSize < 0 {
		return nil, fmt.Errorf("orders page size must not be negative, got %d", opts.OrdersPageSize)
	}
	if opts.RateLimit < 0 {
		return nil, fmt.Errorf("rate limit must not be negative, got %d", opts.RateLimit)
	}
	opts = withDefaults(opts)
	s := &Server{
		opts:           opts,
		catalog:        opts.Catalog,
		faults:         newFaultInjector(opts.Faults, opts.Seed),
		stats:          newStatsRecorder(),
		tokens:         newShardedMap[tokenInfo](),
		carts:          newShardedMap[*cart](),
		orders:         newShardedMap[*order](),
		customerOrders: newShardedMap[*orderList](),
		subscriptions:  newShardedMap[*subscription](),
		replay:         newReplayStore(),
		assertionKeys:  keys,
		rateLimiter:    newRateLimiter(opts.RateLimit),
	}
	if len(opts.KnownCustomers) > 0 {
		s.known = make(map[string]bool, len(opts.KnownCustomers))
		for _, c := range opts.KnownCustomers {
			s.known[c] = true
		}
	}
	if err := s.checkFaults(opts.Faults); err != nil {
		return nil, fmt.Errorf("invalid faults: %w", err)
	}
	s.routes()
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Catalog == nil {
		o.Catalog = DefaultCatalog()
	}
	if o.CartTTL == 0 {
		o.CartTTL = DefaultCartTTL
	}
	if o.OrderCompleteAfter == 0 {
		o.OrderCompleteAfter = DefaultOrderCompleteAfter
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Operation names, as counted in Stats.Requests.
const (
	opToken       = "Token"
	opCreateCart  = "CreateCart"
	opGetCart     = "GetCart"
	opUpdateCart  = "UpdateCart"
	opCheckout    = "Checkout"
	opGetOrder    = "GetOrder"
	opListOrders  = "ListOrders"
	opGetCustomer = "GetCustomer"

	opGetSubscription    = "GetSubscription"
	opListSubscriptions  = "ListSubscriptions"
	opUpdateSubscription = "UpdateSubscription"
	opUnknown            = "Unknown"
)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.Handle("POST /{tenant}/oauth2/v2.0/token", s.tokenEndpoint())
	const customer = "/v1/customers/{customerId}"
	s.mux.Handle("POST "+customer+"/carts", s.api(opCreateCart, s.createCart))
	s.mux.Handle("GET "+customer+"/carts/{cartId}", s.api(opGetCart, s.getCart))
	s.mux.Handle("PUT "+customer+"/carts/{cartId}", s.api(opUpdateCart, s.updateCart))
	s.mux.Handle("POST "+customer+"/carts/{cartId}/checkout", s.guardedAPI(opCheckout, s.checkoutBeforeReplay, s.checkout))
	s.mux.Handle("GET "+customer+"/orders/{orderId}", s.api(opGetOrder, s.getOrder))
	s.mux.Handle("GET "+customer+"/orders", s.api(opListOrders, s.listOrders))
	s.mux.Handle("GET "+customer+"/subscriptions/{subscriptionId}", s.api(opGetSubscription, s.getSubscription))
	s.mux.Handle("GET "+customer+"/subscriptions", s.api(opListSubscriptions, s.listSubscriptions))
	s.mux.Handle("PATCH "+customer+"/subscriptions/{subscriptionId}", s.api(opUpdateSubscription, s.patchSubscription))
	s.mux.Handle("GET "+customer, s.api(opGetCustomer, s.getCustomer))
	s.adminRoutes()
	s.mux.HandleFunc("/", s.notFound)
}

// ServeHTTP serves the token endpoint, the /v1 API and the /_pcsim admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// SetFaults replaces the injected faults from the next request on. Rates are clamped to
// 0..1 and a negative RetryAfter to 0. An invalid checkout fault (a status that is not a
// 4xx, an unknown mode, a catalog item the catalog does not sell) is a bug in the test
// and panics. The caller's map is copied: changing it afterwards changes nothing.
func (s *Server) SetFaults(f Faults) {
	clamp := func(r float64) float64 { return min(max(r, 0), 1) }
	f.FailRate, f.ThrottleRate, f.DropAfterCommitRate = clamp(f.FailRate), clamp(f.ThrottleRate), clamp(f.DropAfterCommitRate)
	f.RetryAfter = max(f.RetryAfter, 0)
	if err := s.checkFaults(f); err != nil {
		panic("pcsim: SetFaults: " + err.Error())
	}
	s.faults.set(f)
}

// CurrentFaults returns a copy of the faults in force, with their defaults filled in.
func (s *Server) CurrentFaults() Faults { return s.faults.get() }

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

func (s *Server) customerKnown(id string) bool {
	if id == NilCustomerID {
		return false
	}
	return s.known == nil || s.known[id]
}
