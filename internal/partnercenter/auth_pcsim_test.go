package partnercenter_test

import (
	"crypto/x509"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"

	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/partnercenter/authtest"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

const managerSA = "system:serviceaccount:partnercart-system:partnercart-controller-manager"

// TestEachSignInMethodAgainstPCSim buys a cart through pcsim with each sign-in method, and
// sees each wrong credential refused as unauthorized, over HTTP.
func TestEachSignInMethodAgainstPCSim(t *testing.T) {
	cert, stranger := authtest.NewCertificate(t), authtest.NewCertificate(t)
	issuer := authtest.NewIssuer(t, "https://cluster.example")
	sim, err := pcsim.New(pcsim.Options{
		ClientID: simClientID, ClientSecret: simSecret,
		ClientCertificates: []*x509.Certificate{cert.Cert},
		Federated:          &pcsim.FederatedCredential{Issuer: issuer.URL, Subject: managerSA, JWKS: issuer.JWKS(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	f := partnercenter.NewFactory(partnercenter.Config{Endpoint: srv.URL, AuthorityHost: srv.URL, HTTPClient: srv.Client()})

	tenant := simCreds.TenantID
	goodToken := authtest.WriteTokenFile(t, "", issuer.Token(t, managerSA, pcsim.DefaultFederatedAudience, time.Now(), time.Hour))
	otherSA := authtest.WriteTokenFile(t, "", issuer.Token(t, "system:serviceaccount:tenant-a:default", pcsim.DefaultFederatedAudience, time.Now(), time.Hour))
	methods := map[string]struct {
		good, bad partnercenter.Credentials
		code      string
	}{
		"client secret": {
			good: simCreds,
			bad:  partnercenter.Credentials{TenantID: tenant, ClientID: simClientID, ClientSecret: "wrong"},
			code: "AADSTS7000215",
		},
		"certificate": {
			good: partnercenter.Credentials{TenantID: tenant, ClientID: simClientID, Method: partnercenter.AuthCertificate,
				CertificatePEM: cert.CertPEM, PrivateKeyPEM: cert.KeyPEM},
			bad: partnercenter.Credentials{TenantID: tenant, ClientID: simClientID, Method: partnercenter.AuthCertificate,
				CertificatePEM: stranger.CertPEM, PrivateKeyPEM: stranger.KeyPEM},
			code: "AADSTS700027",
		},
		"workload identity": {
			good: partnercenter.Credentials{TenantID: tenant, ClientID: simClientID, Method: partnercenter.AuthWorkloadIdentity, TokenFile: goodToken},
			bad:  partnercenter.Credentials{TenantID: tenant, ClientID: simClientID, Method: partnercenter.AuthWorkloadIdentity, TokenFile: otherSA},
			code: "AADSTS700213",
		},
	}
	for name, m := range methods {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c, err := f.ClientFor(m.good)
			g.Expect(err).NotTo(HaveOccurred())
			cart, err := c.CreateCart(t.Context(), simCustomer, &partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{
				ID: 0, CatalogItemID: m365E5, Quantity: 1, BillingCycle: "monthly", TermDuration: "P1M",
			}}}, uuid.NewString())
			g.Expect(err).NotTo(HaveOccurred())
			result, err := c.Checkout(t.Context(), simCustomer, cart.ID, uuid.NewString())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(result.Orders).NotTo(BeEmpty())

			bad, err := f.ClientFor(m.bad)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = bad.ListOrders(t.Context(), simCustomer)
			g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassUnauthorized))
			g.Expect(err.Error()).To(ContainSubstring(m.code))
		})
	}
}
