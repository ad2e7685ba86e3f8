package partnercenter

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// HTTPFactory makes the HTTP Clients. It keeps one Client (with its token) per set of
// credentials and one rate limiter per partner tenant, shared by every Client of that tenant.
// It is safe for concurrent use.
type HTTPFactory struct {
	cfg   Config
	clock clock

	mu      sync.Mutex
	clients map[clientKey]*httpClient
	gates   map[string]*tenantGate // by lower-cased partner tenant ID
}

var _ Factory = (*HTTPFactory)(nil)

// clientKey identifies credentials without keeping the secret: a rotated secret (or
// certificate) hashes to a new key, so it gets a new client and token at once. Entries of
// rotated-away secrets stay in the map; rotations are rare enough for that not to matter.
// A projected token file keeps its key when the kubelet rotates it: it is read per request.
type clientKey struct {
	account, tenantID, clientID string
	method                      AuthMethod
	secretSHA256                string
}

// NewFactory returns a Factory of HTTP clients for cfg; unset fields take their defaults.
func NewFactory(cfg Config) *HTTPFactory {
	return &HTTPFactory{
		cfg:     cfg.withDefaults(),
		clock:   realClock{},
		clients: map[clientKey]*httpClient{},
		gates:   map[string]*tenantGate{},
	}
}

// ClientFor returns the Client for creds, making it on first use. Incomplete credentials
// are refused with a 401 *APIError, so that callers classify them as ClassUnauthorized
// like any other credentials the token endpoint would refuse.
func (f *HTTPFactory) ClientFor(creds Credentials) (Client, error) {
	key := keyOf(creds)

	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[key]; ok {
		return c, nil // valid when it was made: only valid credentials are kept
	}
	if err := validateCredentials(creds); err != nil {
		return nil, err
	}
	tokens, err := newTokenCache(f.cfg, creds, f.clock)
	if err != nil {
		return nil, invalidCredentials(err.Error())
	}
	c := &httpClient{
		cfg:    f.cfg,
		tokens: tokens,
		gate:   f.gateLocked(creds.TenantID),
		clock:  f.clock,
	}
	f.clients[key] = c
	return c, nil
}

// gateLocked returns the tenant's gate, making it on first use. f.mu must be held.
func (f *HTTPFactory) gateLocked(tenantID string) *tenantGate {
	id := strings.ToLower(tenantID)
	g, ok := f.gates[id]
	if !ok {
		g = newTenantGate(f.cfg, f.clock)
		f.gates[id] = g
	}
	return g
}

func keyOf(creds Credentials) clientKey {
	h := sha256.New()
	for _, part := range []string{creds.ClientSecret, creds.CertificatePEM, creds.PrivateKeyPEM, creds.SigningAlgorithm, creds.TokenFile, creds.TokenAudience} {
		// Length-prefixed, so that moving bytes between fields changes the hash.
		_, _ = fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return clientKey{
		account:      creds.Account,
		tenantID:     strings.ToLower(creds.TenantID),
		clientID:     creds.ClientID,
		method:       creds.method(),
		secretSHA256: hex.EncodeToString(h.Sum(nil)),
	}
}

// validateCredentials refuses empty fields, and tenant IDs that are neither a GUID nor a
// domain name: the tenant ID becomes a path segment of the token URL.
func validateCredentials(creds Credentials) error {
	var problem string
	switch {
	case creds.TenantID == "":
		problem = "tenant ID is empty"
	case !isTenantID(creds.TenantID):
		problem = fmt.Sprintf("tenant ID %q is not a GUID or a domain name", creds.TenantID)
	case creds.ClientID == "":
		problem = "client ID is empty"
	default:
		if problem = checkMethod(creds); problem == "" {
			return nil
		}
	}
	return invalidCredentials(problem)
}

// invalidCredentials is the 401 *APIError of credentials refused before any request.
func invalidCredentials(problem string) *APIError {
	return &APIError{
		Operation:   OpAcquireToken,
		StatusCode:  http.StatusUnauthorized,
		Code:        "invalid_credentials",
		Description: "partner center credentials: " + problem,
	}
}

func isTenantID(s string) bool {
	if strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '.' {
			return false
		}
	}
	return true
}
