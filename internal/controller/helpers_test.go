package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

const (
	testCustomer = "932c4101-dc08-461b-b4c1-75d80e905775"
	testItemE5   = "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H"
)

// newNamespace creates a fresh namespace for one test, so tests never see each other's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pc-test-"}}
	NewWithT(t).Expect(env.Client.Create(t.Context(), ns)).To(Succeed())
	return ns.Name
}

type cartOption func(*pcv1alpha1.PartnerCart)

// newCart builds a valid PartnerCart with one Microsoft 365 E5 line, changed by options.
func newCart(ns, name string, opts ...cartOption) *pcv1alpha1.PartnerCart {
	c := &pcv1alpha1.PartnerCart{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: pcv1alpha1.PartnerCartSpec{
			CustomerID:           testCustomer,
			CredentialsSecretRef: &pcv1alpha1.SecretReference{Name: "partner-center"},
			LineItems: []pcv1alpha1.CartLineItem{{LineItemFields: pcv1alpha1.LineItemFields{
				ID: 0, CatalogItemID: testItemE5, Quantity: 25,
				BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y", FriendlyName: "Contoso E5",
			}}},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withApproved() cartOption {
	return func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true }
}

func withMaxTotal(v string) cartOption {
	return func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.MaxTotalPrice = v }
}

// crdFor reads the installed PartnerCart CRD.
func crdFor(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	NewWithT(t).Expect(env.Client.Get(t.Context(), client.ObjectKey{Name: "partnercarts.partnercenter.partnercart.dev"}, crd)).To(Succeed())
	return crd
}

func ptrTo[T any](v T) *T { return &v }

// testClock is real time shifted by an offset that a test can grow, shared by pcsim and the
// reconciler so that "time passes" for both.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Skip(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func (c *testClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// admissionStub is what the admission policy checker says, for reconcilers without an API
// server: "" is in force.
type admissionStub string

func (a admissionStub) Problem() string { return string(a) }

func (a admissionStub) Since() time.Time { return time.Time{} }

func (a admissionStub) Missing() bool { return a != "" }

func (a admissionStub) CheckedAfter(context.Context, time.Time) string { return string(a) }

// withCacheIndexes gives a fake API server (its scheme set first) the indexes AddIndexes gives
// the manager's cache.
func withCacheIndexes(b *fake.ClientBuilder) *fake.ClientBuilder {
	for _, idx := range cacheIndexes() {
		b = b.WithIndex(idx.obj, idx.field, idx.extract)
	}
	return b
}
