package partnercenter

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// AuthMethod is how a partner app proves its identity to Entra ID.
type AuthMethod string

// The sign-in methods. All three end in the same app-only access token.
const (
	// AuthClientSecret sends client_secret (the default when Method is "").
	AuthClientSecret AuthMethod = "ClientSecret"
	// AuthCertificate sends a client assertion signed with the app certificate's private key.
	AuthCertificate AuthMethod = "Certificate"
	// AuthWorkloadIdentity sends the manager's projected service-account token as the client
	// assertion (a federated identity credential of the app registration).
	AuthWorkloadIdentity AuthMethod = "WorkloadIdentity"
)

// ClientAssertionType is the client_assertion_type of both assertion methods (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DefaultWorkloadIdentityAudience is the audience Entra ID expects of federated tokens, and
// the one a workloadIdentity account means when it names none.
const DefaultWorkloadIdentityAudience = "api://AzureADTokenExchange"

// AssertionLifetime is how long a certificate client assertion is valid. Entra ID takes at
// most 10 minutes; the assertion is used at once, so 5 leave room for clock skew.
const AssertionLifetime = 5 * time.Minute

// method returns c.Method with its default.
func (c Credentials) method() AuthMethod {
	if c.Method == "" {
		return AuthClientSecret
	}
	return c.Method
}

// checkMethod returns what is wrong with the method-specific part of creds, or "".
func checkMethod(creds Credentials) string {
	switch creds.method() {
	case AuthClientSecret:
		if creds.ClientSecret == "" {
			return "client secret is empty"
		}
	case AuthCertificate:
		if _, err := parseCertificate(creds); err != nil {
			return err.Error()
		}
	case AuthWorkloadIdentity:
		if creds.TokenFile == "" {
			return "workload identity token file is not set"
		}
	default:
		return fmt.Sprintf("unknown sign-in method %q", creds.Method)
	}
	return ""
}

// assertionSource makes the client_assertion of one token request; nil for client secrets.
type assertionSource func(now time.Time) (string, error)

// newAssertionSource returns the assertion source of creds for the token endpoint tokenURL.
func newAssertionSource(creds Credentials, tokenURL string) (assertionSource, error) {
	switch creds.method() {
	case AuthCertificate:
		signer, err := parseCertificate(creds)
		if err != nil {
			return nil, err
		}
		return func(now time.Time) (string, error) { return signer.sign(creds.ClientID, tokenURL, now) }, nil
	case AuthWorkloadIdentity:
		path, audience := creds.TokenFile, creds.TokenAudience
		return func(time.Time) (string, error) {
			token, err := readTokenFile(path)
			if err != nil || audience == "" {
				return token, err
			}
			return token, checkTokenAudience(path, token, audience)
		}, nil
	default:
		return nil, nil
	}
}

// certSigner signs client assertions with an app certificate's private key.
type certSigner struct {
	method     jwt.SigningMethod
	key        *rsa.PrivateKey
	thumbprint string // x5t#S256: base64url of the SHA-256 of the leaf certificate's DER
}

// parseCertificate reads tls.crt and tls.key. Entra ID verifies client assertions with RS256
// or PS256 only, so the key must be RSA. Errors never quote the PEM.
func parseCertificate(creds Credentials) (*certSigner, error) {
	if creds.CertificatePEM == "" || creds.PrivateKeyPEM == "" {
		return nil, errors.New("certificate or private key is empty")
	}
	pair, err := tls.X509KeyPair([]byte(creds.CertificatePEM), []byte(creds.PrivateKeyPEM))
	if err != nil {
		// tls's messages name the problem (mismatched key, no PEM data) without the key.
		return nil, fmt.Errorf("certificate and private key: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("certificate private key is not RSA (Entra ID takes RS256 or PS256 client assertions)")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	var method jwt.SigningMethod
	switch strings.ToUpper(creds.SigningAlgorithm) {
	case "", "PS256":
		method = jwt.SigningMethodPS256
	case "RS256":
		method = jwt.SigningMethodRS256
	default:
		return nil, fmt.Errorf("signing algorithm %q is not RS256 or PS256", creds.SigningAlgorithm)
	}
	return &certSigner{method: method, key: key, thumbprint: CertificateThumbprint(leaf)}, nil
}

// CertificateThumbprint is the x5t#S256 of cert: base64url (unpadded) of SHA-256 of its DER.
func CertificateThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sign makes a client assertion: iss = sub = clientID, aud = the token endpoint, a fresh
// jti, valid from now for AssertionLifetime.
func (s *certSigner) sign(clientID, tokenURL string, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.ClaimStrings{tokenURL},
		ID:        uuid.NewString(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(AssertionLifetime)),
	}
	token := jwt.NewWithClaims(s.method, claims)
	token.Header["x5t#S256"] = s.thumbprint
	signed, err := token.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return signed, nil
}

// readTokenFile reads the projected service-account token. The kubelet rewrites the file
// before the token expires, so it is read for every token request.
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the path comes from the manager's flags or an admin-owned account
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			return "", fmt.Errorf("read workload identity token %s: %w", path, pathErr.Err)
		}
		return "", fmt.Errorf("read workload identity token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("workload identity token file %s is empty", path)
	}
	return token, nil
}

// checkTokenAudience refuses a service-account token that does not carry audience, the one
// the account names: the projected volume decides a token's audience, not the account, and
// Entra ID matches a federated credential by it. Without the check an account naming an
// audience would sign in with whatever the file holds. Only the token's claims are read (its
// signature is Entra ID's to check); errors name the audiences, never the token.
func checkTokenAudience(path, token, audience string) error {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return fmt.Errorf("workload identity token %s is not a JWT", path)
	}
	if !slices.Contains(claims.Audience, audience) {
		return fmt.Errorf("workload identity token %s is for audience %q, not %q, the account's: project a token with that audience and name its file in tokenPath",
			path, strings.Join(claims.Audience, ","), audience)
	}
	return nil
}
