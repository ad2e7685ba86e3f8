package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// authFlags registers the flags of certificate and federated sign-in.
func (c *config) authFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.clientCertFile, "client-certificate", "",
		"PEM file of the app's certificate(s): certificate client assertions signed by one of them are taken")
	fs.StringVar(&c.federated.Issuer, "federated-issuer", "",
		"issuer of service-account tokens taken as client assertions (with --federated-jwks)")
	fs.StringVar(&c.federatedJWKSFile, "federated-jwks", "", "JWKS file of --federated-issuer's signing keys")
	fs.StringVar(&c.federated.Subject, "federated-subject", "",
		"the only token subject taken, e.g. system:serviceaccount:NS:NAME (default: any)")
	fs.StringVar(&c.federated.Audience, "federated-audience", pcsim.DefaultFederatedAudience, "audience the token must carry")
}

// resolveAuthFiles reads the certificate and JWKS files.
func (c *config) resolveAuthFiles() error {
	if c.clientCertFile != "" {
		certs, err := readCertificates(c.clientCertFile)
		if err != nil {
			return err
		}
		c.opts.ClientCertificates = certs
	}
	if (c.federated.Issuer == "") != (c.federatedJWKSFile == "") {
		return errors.New("--federated-issuer and --federated-jwks go together")
	}
	if c.federated.Issuer != "" {
		b, err := os.ReadFile(c.federatedJWKSFile)
		if err != nil {
			return fmt.Errorf("read federated JWKS: %w", err)
		}
		fed := c.federated
		fed.JWKS = b
		c.opts.Federated = &fed
	}
	return nil
}

// readCertificates reads every CERTIFICATE block of a PEM file; other blocks (a private
// key by mistake) are refused rather than ignored.
func readCertificates(path string) ([]*x509.Certificate, error) {
	rest, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read client certificate: %w", err)
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("client certificate %s: unexpected PEM block %q (give the certificate only, never the key)", path, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", path, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("client certificate %s holds no CERTIFICATE block", path)
	}
	return certs, nil
}

// authMethods names the assertion methods configured, for the start-up line.
func authMethods(cfg *config) string {
	var m []string
	if n := len(cfg.opts.ClientCertificates); n > 0 {
		m = append(m, fmt.Sprintf("%d certificate(s)", n))
	}
	if cfg.opts.Federated != nil {
		m = append(m, "federated issuer "+cfg.opts.Federated.Issuer)
	}
	if len(m) == 0 {
		return ""
	}
	return " + " + strings.Join(m, " + ")
}
