package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/partnercenter/authtest"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

func TestAssertionFlags(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	cert := authtest.NewCertificate(t)
	issuer := authtest.NewIssuer(t, "https://cluster.example")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		g.Expect(os.WriteFile(p, []byte(content), 0o600)).To(Succeed())
		return p
	}
	certFile, keyFile := write("tls.crt", cert.CertPEM), write("tls.key", cert.KeyPEM)
	jwksFile := write("jwks.json", string(issuer.JWKS(t)))
	const sa = "system:serviceaccount:ops:manager"

	for name, args := range map[string][]string{
		"key as certificate":  {"--client-certificate", keyFile},
		"empty certificate":   {"--client-certificate", write("empty.pem", "")},
		"issuer without JWKS": {"--federated-issuer", issuer.URL},
		"JWKS without issuer": {"--federated-jwks", jwksFile},
	} {
		_, err := parseFlags(args, &bytes.Buffer{})
		g.Expect(err).To(HaveOccurred(), name)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--client-id", "app",
			"--client-certificate", certFile, "--federated-issuer", issuer.URL, "--federated-jwks", jwksFile,
			"--federated-subject", sa}, &logs, func(a string) { addrs <- a })
	}()
	url := "http://" + <-addrs
	f := partnercenter.NewFactory(partnercenter.Config{Endpoint: url, AuthorityHost: url, HTTPClient: http.DefaultClient})
	tenant := "contoso.onmicrosoft.com"
	for name, creds := range map[string]partnercenter.Credentials{
		"certificate": {TenantID: tenant, ClientID: "app", Method: partnercenter.AuthCertificate,
			CertificatePEM: cert.CertPEM, PrivateKeyPEM: cert.KeyPEM},
		"workload identity": {TenantID: tenant, ClientID: "app", Method: partnercenter.AuthWorkloadIdentity,
			TokenFile: authtest.WriteTokenFile(t, "", issuer.Token(t, sa, pcsim.DefaultFederatedAudience, time.Now(), time.Hour))},
	} {
		c, err := f.ClientFor(creds)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = c.ListOrders(t.Context(), "6a1c43b5-2f3e-4d0c-9a51-0d7c1e3a8f42")
		g.Expect(err).NotTo(HaveOccurred(), name)
	}
	c, err := f.ClientFor(partnercenter.Credentials{TenantID: tenant, ClientID: "app", ClientSecret: "guess"})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.ListOrders(t.Context(), "6a1c43b5-2f3e-4d0c-9a51-0d7c1e3a8f42")
	g.Expect(partnercenter.ErrorCode(err)).To(Equal("invalid_client"), "an app without a secret takes none")

	cancel()
	g.Expect(<-done).To(Succeed())
	g.Expect(logs.String()).To(ContainSubstring("1 certificate(s) + federated issuer https://cluster.example"))
}
