// Package authtest makes the key material of sign-in tests: self-signed app certificates
// (for certificate client assertions) and a service-account token issuer with its JWKS (for
// workload identity). Keys are generated per call and live only in memory and t.TempDir (or,
// for GenerateCertificate's callers, where they write them).
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Certificate is an app certificate: tls.crt and tls.key as a Secret holds them.
type Certificate struct {
	CertPEM, KeyPEM string
	Cert            *x509.Certificate
	Key             crypto.Signer
}

// Thumbprint is the certificate's x5t#S256.
func (c Certificate) Thumbprint() string {
	sum := sha256.Sum256(c.Cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Sign signs claims with the certificate's key and its x5t#S256 header, as a hand-made
// client assertion (tests use it to send wrong ones).
func (c Certificate) Sign(t testing.TB, method jwt.SigningMethod, claims jwt.Claims) string {
	t.Helper()
	token := jwt.NewWithClaims(method, claims)
	token.Header["x5t#S256"] = c.Thumbprint()
	signed, err := token.SignedString(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// NewCertificate returns a self-signed RSA certificate for the app.
func NewCertificate(t testing.TB) Certificate {
	t.Helper()
	c, err := GenerateCertificate("partnercart-test-app", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// GenerateCertificate returns a self-signed RSA 2048 certificate named commonName, valid
// from an hour ago for validFor: an app certificate for programs that are not tests (the
// end-to-end suite's certificate account).
func GenerateCertificate(commonName string, validFor time.Duration) (Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Certificate{}, err
	}
	return selfSigned(commonName, validFor, key, &key.PublicKey)
}

// NewECCertificate returns a self-signed ECDSA certificate, which Entra ID does not take.
func NewECCertificate(t testing.TB) Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := selfSigned("partnercart-test-app", 24*time.Hour, key, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// selfSigned makes a certificate for signer's key, with the key as PKCS #8 PEM.
func selfSigned(commonName string, validFor time.Duration, signer crypto.Signer, pub any) (Certificate, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		return Certificate{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Certificate{}, err
	}
	return Certificate{
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		Cert:    cert,
		Key:     signer,
	}, nil
}

// Issuer stands in for a cluster's service-account token issuer.
type Issuer struct {
	URL string
	kid string
	key *rsa.PrivateKey
}

// NewIssuer returns an issuer with a fresh RS256 signing key.
func NewIssuer(t testing.TB, url string) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{URL: url, kid: uuid.NewString(), key: key}
}

// JWKS is the issuer's public key set as /openid/v1/jwks serves it.
func (i *Issuer) JWKS(t testing.TB) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &i.key.PublicKey, KeyID: i.kid, Algorithm: "RS256", Use: "sig"}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Token returns a service-account token for subject and audience, valid for ttl from now.
func (i *Issuer) Token(t testing.TB, subject, audience string, now time.Time, ttl time.Duration) string {
	t.Helper()
	return i.Sign(t, jwt.RegisteredClaims{
		Issuer:    i.URL,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{audience},
		ID:        uuid.NewString(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	})
}

// Sign signs any claims with the issuer's key and kid.
func (i *Issuer) Sign(t testing.TB, claims jwt.Claims) string {
	t.Helper()
	token := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	token.Header["kid"] = i.kid
	signed, err := token.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// WriteTokenFile writes token where a projected volume would, replacing it atomically as
// the kubelet does, and returns the path.
func WriteTokenFile(t testing.TB, path, token string) string {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "token")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}
