package pcsim

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// ClientAssertionType is the only client_assertion_type Entra ID takes (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DefaultFederatedAudience is the audience Entra ID expects of federated tokens.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

// maxAssertionLifetime is the longest certificate client assertion Entra ID takes.
const maxAssertionLifetime = 10 * time.Minute

// assertionLeeway is the clock skew tolerated on nbf and exp.
const assertionLeeway = 30 * time.Second

// FederatedCredential trusts the service-account tokens of one issuer (a cluster) as client
// assertions of the app, as an Entra ID federated identity credential does.
type FederatedCredential struct {
	// Issuer is the token issuer (the cluster's --service-account-issuer).
	Issuer string `json:"issuer"`
	// Subject, when set, is the only subject taken, e.g. system:serviceaccount:ns:name.
	Subject string `json:"subject,omitempty"`
	// Audience is the audience the token must carry (default api://AzureADTokenExchange).
	Audience string `json:"audience,omitempty"`
	// JWKS is the issuer's key set as its /openid/v1/jwks serves it.
	JWKS json.RawMessage `json:"jwks"`
}

// assertionKeys are the verification keys New derives from Options.
type assertionKeys struct {
	certs     map[string]*x509.Certificate // by x5t#S256
	federated *FederatedCredential
	jwks      map[string]any // federated public keys by kid
}

func newAssertionKeys(opts Options) (assertionKeys, error) {
	keys := assertionKeys{certs: map[string]*x509.Certificate{}}
	for _, c := range opts.ClientCertificates {
		sum := sha256.Sum256(c.Raw)
		keys.certs[base64.RawURLEncoding.EncodeToString(sum[:])] = c
	}
	if opts.Federated == nil {
		return keys, nil
	}
	fed := *opts.Federated
	if fed.Issuer == "" {
		return keys, errors.New("federated credential: issuer is empty")
	}
	if fed.Audience == "" {
		fed.Audience = DefaultFederatedAudience
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(fed.JWKS, &set); err != nil {
		return keys, fmt.Errorf("federated credential JWKS: %w", err)
	}
	keys.jwks = map[string]any{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return keys, fmt.Errorf("federated credential JWKS: key %q is not a public key", k.KeyID)
		}
		keys.jwks[k.KeyID] = k.Key
	}
	if len(keys.jwks) == 0 {
		return keys, errors.New("federated credential JWKS has no keys")
	}
	keys.federated = &fed
	return keys, nil
}

// clientFailure is a refused client authentication: 401 invalid_client.
func clientFailure(description string) response {
	return oauthFailure(http.StatusUnauthorized, "invalid_client", description)
}

// verifyAssertion checks a client assertion for clientID at the token endpoint tokenURL and
// returns the refusal, if any. A certificate assertion is issued by the app itself (iss =
// clientID); anything else must be a federated token of the trusted issuer.
func (s *Server) verifyAssertion(clientID, assertion, tokenURL string) (response, bool) {
	var unverified jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &unverified); err != nil {
		return clientFailure("AADSTS50027: JWT token is invalid or malformed."), false
	}
	if unverified.Issuer == clientID {
		return s.verifyCertificateAssertion(clientID, assertion, tokenURL)
	}
	return s.verifyFederatedAssertion(assertion, unverified.Issuer)
}

func (s *Server) verifyCertificateAssertion(clientID, assertion, tokenURL string) (response, bool) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		thumb, _ := t.Header["x5t#S256"].(string)
		cert, ok := s.assertionKeys.certs[thumb]
		if !ok {
			return nil, errKeyNotFound
		}
		return cert.PublicKey, nil
	},
		jwt.WithValidMethods([]string{"RS256", "PS256"}),
		jwt.WithTimeFunc(s.now), jwt.WithLeeway(assertionLeeway), jwt.WithExpirationRequired(),
	)
	if resp, bad := timeOrSignatureFailure(err); bad {
		return resp, false
	}
	switch {
	case claims.Subject != clientID:
		return clientFailure("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter."), false
	case !slices.Contains(claims.Audience, tokenURL):
		return clientFailure("AADSTS700023: Client assertion audience claim does not match Realm issuer. Expected " + tokenURL + "."), false
	case claims.ID == "":
		return clientFailure("AADSTS700027: Client assertion contains no jti claim."), false
	case claims.ExpiresAt.Sub(assertionStart(claims)) > maxAssertionLifetime:
		return clientFailure("AADSTS700024: Client assertion is not within its valid time range: its lifetime exceeds 10 minutes."), false
	}
	return response{}, true
}

func (s *Server) verifyFederatedAssertion(assertion, issuer string) (response, bool) {
	fed := s.assertionKeys.federated
	if fed == nil || issuer != fed.Issuer {
		return clientFailure("AADSTS700211: No matching federated identity record found for presented assertion issuer '" + issuer + "'."), false
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := s.assertionKeys.jwks[kid]
		if !ok {
			return nil, errKeyNotFound
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{"RS256", "PS256", "ES256"}),
		jwt.WithTimeFunc(s.now), jwt.WithLeeway(assertionLeeway), jwt.WithExpirationRequired(),
	)
	if resp, bad := timeOrSignatureFailure(err); bad {
		return resp, false
	}
	switch {
	case !slices.Contains(claims.Audience, fed.Audience):
		return clientFailure("AADSTS700212: No matching federated identity record found for presented assertion audience."), false
	case fed.Subject != "" && claims.Subject != fed.Subject:
		return clientFailure("AADSTS700213: No matching federated identity record found for presented assertion subject '" + claims.Subject + "'."), false
	}
	return response{}, true
}

var errKeyNotFound = errors.New("key not found")

// timeOrSignatureFailure maps a verification error: bad times are AADSTS700024, anything
// else (unknown key, bad signature, wrong algorithm) AADSTS700027.
func timeOrSignatureFailure(err error) (response, bool) {
	switch {
	case err == nil:
		return response{}, false
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return clientFailure("AADSTS700024: Client assertion is not within its valid time range."), true
	case errors.Is(err, errKeyNotFound):
		return clientFailure("AADSTS700027: Client assertion failed signature validation: the key that signed it was not found (x5t#S256 or kid)."), true
	default:
		return clientFailure("AADSTS700027: Client assertion failed signature validation."), true
	}
}

// assertionStart is the assertion's nbf, or its iat, or (neither) the zero time.
func assertionStart(c jwt.RegisteredClaims) time.Time {
	switch {
	case c.NotBefore != nil:
		return c.NotBefore.Time
	case c.IssuedAt != nil:
		return c.IssuedAt.Time
	default:
		return time.Time{}
	}
}
