package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/partnercenter/authtest"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// These tests buy through PartnerCenterAccounts: envtest, pcsim verifying each sign-in
// method, and a manager running both reconcilers with a credentials namespace.

// signInMethods are the three ways an account signs in, with the Secrets and the projected
// token they need created in w.
func (w *accountWorld) signInMethods() map[string]pcv1alpha1.AccountAuth {
	w.t.Helper()
	w.secret("app-secret", map[string]string{"clientSecret": testClientSecret})
	w.secret("app-cert", map[string]string{corev1.TLSCertKey: w.cert.CertPEM, corev1.TLSPrivateKeyKey: w.cert.KeyPEM})
	authtest.WriteTokenFile(w.t, w.tokenDir+"/token", w.issuer.Token(w.t, accountSA, pcsim.DefaultFederatedAudience, time.Now(), time.Hour))
	return map[string]pcv1alpha1.AccountAuth{
		pcv1alpha1.AuthMethodClientSecret:     {ClientSecret: &pcv1alpha1.ClientSecretAuth{SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "app-secret"}}},
		pcv1alpha1.AuthMethodCertificate:      {Certificate: &pcv1alpha1.CertificateAuth{SecretRef: pcv1alpha1.AccountSecretReference{Name: "app-cert"}}},
		pcv1alpha1.AuthMethodWorkloadIdentity: {WorkloadIdentity: &pcv1alpha1.WorkloadIdentityAuth{}},
	}
}

// accountFor creates an account with spec changed by edit (e.g. its allow-list).
func (w *accountWorld) accountFor(name string, auth pcv1alpha1.AccountAuth, edit func(*pcv1alpha1.PartnerCenterAccountSpec)) string {
	w.t.Helper()
	acct := &pcv1alpha1.PartnerCenterAccount{
		ObjectMeta: metav1.ObjectMeta{Name: w.prefix + name},
		Spec:       pcv1alpha1.PartnerCenterAccountSpec{TenantID: testTenant, ClientID: testClientID, Auth: auth},
	}
	if edit != nil {
		edit(&acct.Spec)
	}
	NewWithT(w.t).Expect(env.Client.Create(w.t.Context(), acct)).To(Succeed())
	return acct.Name
}

// editAccount changes an account's spec, as the platform team would.
func (w *accountWorld) editAccount(name string, edit func(*pcv1alpha1.PartnerCenterAccountSpec)) {
	w.t.Helper()
	NewWithT(w.t).Eventually(func() error {
		acct := &pcv1alpha1.PartnerCenterAccount{}
		if err := env.Client.Get(w.t.Context(), client.ObjectKey{Name: name}, acct); err != nil {
			return err
		}
		edit(&acct.Spec)
		return env.Client.Update(w.t.Context(), acct)
	}).Should(Succeed())
}

// allowTenant lets the tenant namespace use an account by name.
func (w *accountWorld) allowTenant(spec *pcv1alpha1.PartnerCenterAccountSpec) {
	spec.Namespaces.Names = []string{w.tenantNS}
}

// cart creates a cart in the tenant namespace that buys through account.
func (w *accountWorld) cart(name, account string, opts ...cartOption) {
	w.t.Helper()
	c := newCart(w.tenantNS, name, opts...)
	c.Spec.CredentialsSecretRef, c.Spec.AccountRef = nil, &pcv1alpha1.AccountReference{Name: account}
	NewWithT(w.t).Expect(env.Client.Create(w.t.Context(), c)).To(Succeed())
}

func (w *accountWorld) getCart(name string) *pcv1alpha1.PartnerCart {
	w.t.Helper()
	c := &pcv1alpha1.PartnerCart{}
	NewWithT(w.t).Expect(env.Client.Get(w.t.Context(), client.ObjectKey{Namespace: w.tenantNS, Name: name}, c)).To(Succeed())
	return c
}

func (w *accountWorld) eventuallyCart(name string) AsyncAssertion {
	return NewWithT(w.t).Eventually(func() *pcv1alpha1.PartnerCart { return w.getCart(name) }).
		WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond)
}

func (w *accountWorld) requests(op string) int {
	n := 0
	for _, c := range w.sim.Stats().Requests[op] {
		n += c
	}
	return n
}

// TestCartBoughtThroughEachSignInMethod: a tenant's cart names an account (client secret,
// certificate or workload identity) and is bought with it; the intent and the receipt record
// the account, and the account counts the cart.
func TestCartBoughtThroughEachSignInMethod(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	for method, auth := range w.signInMethods() {
		name := w.accountFor(strings.ToLower(method), auth, w.allowTenant)
		succeeded := testutil.ToFloat64(checkoutsTotal.WithLabelValues("succeeded", name))
		cart := "bought-by-" + strings.ToLower(method)
		w.cart(cart, name, withApproved())
		w.eventuallyCart(cart).Should(havePhase(pcv1alpha1.PhaseCompleted), method)
		c := w.getCart(cart)
		g.Expect(c.Status.Checkout.Account).To(Equal(name))
		g.Expect(c.Status.Orders).To(HaveLen(1))

		receipt := &corev1.ConfigMap{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: w.credNS, Name: c.Status.ReceiptName}, receipt)).To(Succeed())
		var rec receiptRecord
		g.Expect(json.Unmarshal([]byte(receipt.Data["receipt.json"]), &rec)).To(Succeed())
		g.Expect(rec.Account).To(Equal(name), "the receipt names the account that bought")
		g.Expect(testutil.ToFloat64(checkoutsTotal.WithLabelValues("succeeded", name))).To(Equal(succeeded+1), "metrics name the account")
		g.Expect(testutil.ToFloat64(spendTotal.WithLabelValues("USD", name))).To(Equal(17100.0))

		g.Eventually(func() int32 {
			return w.eventuallyReady(name, metav1.ConditionTrue, pcv1alpha1.TokenObtainedReason).Status.CartsUsing
		}).Should(Equal(int32(1)), "the account counts the cart using it")
	}
	g.Expect(w.sim.Stats().OrdersCreated).To(Equal(3), "one purchase per cart, each through its own sign-in")
}

// TestAccountAllowListGatesTheTenant: an account that does not allow the cart's namespace
// stops the cart with AccountNotAllowed before any Partner Center call; labelling the
// namespace so that the account's selector matches wakes the cart at once (a stalled cart has
// no retry timer).
func TestAccountAllowListGatesTheTenant(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	auth := w.signInMethods()[pcv1alpha1.AuthMethodClientSecret]
	name := w.accountFor("closed", auth, func(spec *pcv1alpha1.PartnerCenterAccountSpec) {
		spec.Namespaces.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"partnercart.dev/buyer": w.credNS}}
	})
	w.cart("denied", name, withApproved())
	w.eventuallyCart("denied").Should(And(
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.AccountNotAllowedReason),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.AccountNotAllowedReason)))
	msg := conditionMessage(w.getCart("denied"), pcv1alpha1.StalledCondition)
	g.Expect(msg).To(And(ContainSubstring(name), ContainSubstring(w.tenantNS)))
	g.Expect(w.sim.Stats().CartsCreated).To(BeZero(), "nothing was sent to Partner Center")

	// The platform team labels the namespace: the selector now matches.
	ns := &corev1.Namespace{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Name: w.tenantNS}, ns)).To(Succeed())
	ns.Labels = map[string]string{"partnercart.dev/buyer": w.credNS}
	g.Expect(env.Client.Update(t.Context(), ns)).To(Succeed())
	w.eventuallyCart("denied").Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(w.sim.Stats().OrdersCreated).To(Equal(1))
}

// TestAccountCeilingCapsEveryCart: no cart using an account may cost more than its
// maxTotalPricePerCart, whatever its approval says; raising the ceiling lets it go.
func TestAccountCeilingCapsEveryCart(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	auth := w.signInMethods()[pcv1alpha1.AuthMethodClientSecret]
	name := w.accountFor("capped", auth, func(spec *pcv1alpha1.PartnerCenterAccountSpec) {
		w.allowTenant(spec)
		spec.MaxTotalPricePerCart = "1000.00" // 25 E5 seats for a year cost 17100.00
	})
	w.cart("expensive", name, withApproved())
	w.cart("generous-approval", name, withApproved(), withMaxTotal("50000"))
	for _, cart := range []string{"expensive", "generous-approval"} {
		w.eventuallyCart(cart).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.AccountPriceCeilingExceededReason), cart)
		g.Expect(w.getCart(cart).Status.Checkout).To(BeNil(), "no intent above the ceiling")
	}
	g.Expect(conditionMessage(w.getCart("expensive"), pcv1alpha1.StalledCondition)).To(ContainSubstring("17100.00"))
	g.Expect(conditionMessage(w.getCart("generous-approval"), pcv1alpha1.StalledCondition)).To(ContainSubstring("spec.approval.maxTotalPrice 50000"))
	g.Expect(w.requests("Checkout")).To(BeZero())

	w.editAccount(name, func(spec *pcv1alpha1.PartnerCenterAccountSpec) { spec.MaxTotalPricePerCart = "20000" })
	w.eventuallyCart("expensive").Should(havePhase(pcv1alpha1.PhaseCompleted))
	w.eventuallyCart("generous-approval").Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.AccountPriceCeilingExceededReason),
		"an approval allowing more than the account does is still refused")
	g.Expect(w.sim.Stats().OrdersCreated).To(Equal(1))
}

// TestAccountScopesCustomers: an account's spec.customers limits whom a namespace may buy for:
// a cart for another customer (a mistyped GUID) stops before anything is sent upstream, and
// goes on once the platform team allows that customer for the namespace.
func TestAccountScopesCustomers(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	auth := w.signInMethods()[pcv1alpha1.AuthMethodClientSecret]
	const other = "0a0b0c0d-0000-4000-8000-000000000001"
	name := w.accountFor("scoped", auth, func(spec *pcv1alpha1.PartnerCenterAccountSpec) {
		w.allowTenant(spec)
		spec.Customers = []pcv1alpha1.AccountCustomer{{ID: testCustomer}, {ID: other, Namespaces: []string{"finance"}}}
	})
	w.cart("ours", name, withApproved())
	w.cart("theirs", name, withApproved(), func(c *pcv1alpha1.PartnerCart) { c.Spec.CustomerID = other })
	w.eventuallyCart("ours").Should(havePhase(pcv1alpha1.PhaseCompleted))
	w.eventuallyCart("theirs").Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CustomerNotAllowedReason))
	g.Expect(conditionMessage(w.getCart("theirs"), pcv1alpha1.StalledCondition)).To(ContainSubstring("buy for customer " + other))
	g.Expect(w.getCart("theirs").Status.Cart).To(BeNil(), "nothing sent upstream")
	g.Expect(w.requests("CreateCart")).To(Equal(1))

	w.editAccount(name, func(spec *pcv1alpha1.PartnerCenterAccountSpec) {
		spec.Customers[1].Namespaces = append(spec.Customers[1].Namespaces, w.tenantNS)
	})
	w.eventuallyCart("theirs").Should(havePhase(pcv1alpha1.PhaseCompleted))
}

// TestMissingOrBrokenAccount: a cart naming an account that does not exist waits for it
// (AccountNotFound) and goes on when it is created; an account whose Secret lacks its key
// keeps the cart waiting with InvalidCredentials, naming the account, never the secret.
func TestMissingOrBrokenAccount(t *testing.T) {
	w := startAccountWorld(t)
	g := NewWithT(t)
	w.cart("early", w.prefix+"later")
	w.eventuallyCart("early").Should(And(haveObservedItsGeneration(),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.AccountNotFoundReason)))
	w.accountFor("later", w.signInMethods()[pcv1alpha1.AuthMethodClientSecret], w.allowTenant)
	w.eventuallyCart("early").Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))

	w.secret("no-key", map[string]string{"other": "x"})
	broken := w.accountFor("broken", pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{
		SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "no-key"}}}, w.allowTenant)
	w.cart("stuck", broken)
	w.eventuallyCart("stuck").Should(haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.InvalidCredentialsReason))
	g.Expect(conditionMessage(w.getCart("stuck"), pcv1alpha1.ReadyCondition)).To(And(ContainSubstring(broken), ContainSubstring("lacks key clientSecret")))
	g.Expect(w.logs.String()).NotTo(ContainSubstring(testClientSecret))
}

// TestNamespaceCredentialsCanBeTurnedOff: with --allow-namespace-credentials=false a cart
// naming a Secret of its own namespace stops with NamespaceCredentialsDisabled and no call,
// while a cart naming an account is bought.
func TestNamespaceCredentialsCanBeTurnedOff(t *testing.T) {
	w := startAccountWorld(t, func(o *Options) { o.DenyNamespaceCredentials = true })
	g := NewWithT(t)
	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.tenantNS, Name: "partner-center"},
		StringData: map[string]string{pcv1alpha1.SecretKeyTenantID: testTenant, pcv1alpha1.SecretKeyClientID: testClientID, pcv1alpha1.SecretKeyClientSecret: testClientSecret},
	})).To(Succeed())
	g.Expect(env.Client.Create(t.Context(), newCart(w.tenantNS, "own-secret", withApproved()))).To(Succeed())
	w.eventuallyCart("own-secret").Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.NamespaceCredentialsDisabledReason))
	g.Expect(w.sim.Stats().CartsCreated).To(BeZero())

	name := w.accountFor("shared", w.signInMethods()[pcv1alpha1.AuthMethodWorkloadIdentity], w.allowTenant)
	w.cart("through-account", name, withApproved())
	w.eventuallyCart("through-account").Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(w.sim.Stats().OrdersCreated).To(Equal(1))
}

// TestCartCannotReachAnotherNamespacesSecret: no field of a PartnerCart can name a Secret of
// another namespace: credentialsSecretRef has no namespace (an unknown field is refused under
// strict validation, as kubectl applies), accountRef names a cluster-scoped account only, and
// exactly one of them is set.
func TestCartCannotReachAnotherNamespacesSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	for name, edit := range map[string]func(map[string]any){
		"secret-namespace": func(spec map[string]any) {
			spec["credentialsSecretRef"] = map[string]any{"name": "x", "namespace": "kube-system"}
		},
		"account-namespace": func(spec map[string]any) {
			spec["accountRef"] = map[string]any{"name": "x", "namespace": "kube-system"}
			delete(spec, "credentialsSecretRef")
		},
	} {
		u := cartObject(t, ns, name)
		edit(u.Object["spec"].(map[string]any))
		err := env.Client.Create(t.Context(), u, client.FieldValidation("Strict"))
		g.Expect(err).To(MatchError(ContainSubstring(`unknown field "spec.`)), name)
	}
	for name, edit := range map[string]func(*pcv1alpha1.PartnerCart){
		"both":    func(c *pcv1alpha1.PartnerCart) { c.Spec.AccountRef = &pcv1alpha1.AccountReference{Name: "a"} },
		"neither": func(c *pcv1alpha1.PartnerCart) { c.Spec.CredentialsSecretRef = nil },
	} {
		c := newCart(ns, name)
		edit(c)
		g.Expect(env.Client.Create(t.Context(), c)).To(MatchError(ContainSubstring("set exactly one of spec.accountRef")), name)
	}
}

// cartObject is a valid cart as an unstructured object, for fields the Go type cannot hold.
func cartObject(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	c := newCart(ns, name)
	c.SetGroupVersionKind(pcv1alpha1.GroupVersion.WithKind("PartnerCart"))
	raw, err := json.Marshal(c)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	NewWithT(t).Expect(json.Unmarshal(raw, &u.Object)).To(Succeed())
	delete(u.Object, "status")
	return u
}

// TestStartedCheckoutKeepsItsAccount: the account stopped allowing the namespace, and the
// spec was pointed at another account (admission refuses that after checkout; a restore from
// an old backup need not pass it), while a checkout made with the first account was in
// flight. Recovery repeats the call with the intent's account, never another partner's, and
// the allow-list change does not strand it.
func TestStartedCheckoutKeepsItsAccount(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f31")
	cart.Spec.CredentialsSecretRef, cart.Spec.AccountRef = nil, &pcv1alpha1.AccountReference{Name: "elsewhere"}
	past := metav1.NewTime(now.Add(-time.Minute))
	cart.Status.Checkout = pendingIntent(cart, past.Time)
	cart.Status.Checkout.Account, cart.Status.Checkout.Owner, cart.Status.Checkout.Deadline = "buyer", "dead", &past
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{CredentialsNamespace: "creds"})
	for _, acct := range []*pcv1alpha1.PartnerCenterAccount{
		{ObjectMeta: metav1.ObjectMeta{Name: "buyer"}, Spec: pcv1alpha1.PartnerCenterAccountSpec{TenantID: testTenant, ClientID: testClientID,
			Auth: pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{SecretRef: pcv1alpha1.AccountSecretKeyReference{Name: "buyer"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}, Spec: pcv1alpha1.PartnerCenterAccountSpec{TenantID: "other.onmicrosoft.com", ClientID: testClientID,
			Auth: pcv1alpha1.AccountAuth{WorkloadIdentity: &pcv1alpha1.WorkloadIdentityAuth{}}, Namespaces: pcv1alpha1.AccountNamespaces{Names: []string{"ns"}}}},
	} {
		g.Expect(k8s.Create(t.Context(), acct)).To(Succeed())
	}
	g.Expect(k8s.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "creds", Name: "buyer"},
		Data: map[string][]byte{pcv1alpha1.SecretKeyClientSecret: []byte(testClientSecret)}})).To(Succeed())
	pc.GetCartFn = func(context.Context, string, string) (*partnercenter.Cart, error) {
		return &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusOrdered, LineItems: wireLineItems(cart.Spec.LineItems)}, nil
	}
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed"}}}, nil
	}

	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
	g.Expect(got.Status.Checkout.Account).To(Equal("buyer"))
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
	factory := r.PartnerCenter.(*pcfake.Factory)
	for _, creds := range factory.Requested() {
		g.Expect(creds.Account).To(Equal("buyer"), "every call uses the intent's account")
		g.Expect(creds.TenantID).To(Equal(testTenant))
	}
	g.Expect(factory.Requested()).NotTo(BeEmpty())
}

// TestPurchaseRecordsWhoApprovedAndWhatApplied: a cart applied by Argo CD and approved by its
// service account (the approval is the merged commit) records, in the intent and in the
// receipt, the admission stamps and the identifiers Argo CD left on the object, so an auditor
// can go from the receipt to the sync and the commit.
func TestPurchaseRecordsWhoApprovedAndWhatApplied(t *testing.T) {
	g := NewWithT(t)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f32")
	cart.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "tenants:partnercenter.partnercart.dev/PartnerCart:ns/c", "unrelated": "x"}
	cart.Labels = map[string]string{"app.kubernetes.io/instance": "tenants"}
	cart.Spec.Approval.RequestedBy = "alice"
	cart.Spec.Approval.ApprovedBy = "system:serviceaccount:argocd:argocd-application-controller"
	cart.Spec.Approval.ApprovedAt = "2026-11-30T09:00:00Z"
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{}, Options{})
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed", TotalPrice: "1.00", CurrencyCode: "USD"}}}, nil
	}
	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
	want := map[string]string{
		"argocd.argoproj.io/tracking-id": "tenants:partnercenter.partnercart.dev/PartnerCart:ns/c",
		"app.kubernetes.io/instance":     "tenants",
	}
	co := got.Status.Checkout
	g.Expect(co.AppliedBy).To(Equal(want))
	g.Expect([]string{co.RequestedBy, co.ApprovedBy, co.ApprovedAt, co.SpecHash}).To(Equal(
		[]string{"alice", cart.Spec.Approval.ApprovedBy, "2026-11-30T09:00:00Z", cart.Status.SpecHash}))
	g.Expect(conditionMessage(got, pcv1alpha1.ApprovedCondition)).To(Equal(
		"Approved for purchase content " + cart.Status.SpecHash + " by system:serviceaccount:argocd:argocd-application-controller at 2026-11-30T09:00:00Z"))

	receipt := &corev1.ConfigMap{}
	g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: unitReceiptNS, Name: got.Status.ReceiptName}, receipt)).To(Succeed())
	var rec receiptRecord
	g.Expect(json.Unmarshal([]byte(receipt.Data["receipt.json"]), &rec)).To(Succeed())
	g.Expect(rec.AppliedBy).To(Equal(want))
	g.Expect(rec.ApprovedBy).To(Equal(cart.Spec.Approval.ApprovedBy))
	g.Expect(rec.SpecHash).To(Equal(cart.Status.SpecHash))
}

// TestSpecEditWhilePendingDoesNotRedirectTheCheckout: while a checkout's outcome is pending,
// the customer and the quantity of the spec changed (admission freezes them after checkout; a
// restore of an older object, or the policy not installed, need not). Recovery repeats the very
// same call, for the intent's customer and cart with the intent's request ID, and never
// writes the upstream cart from the new spec or buys anything else.
func TestSpecEditWhilePendingDoesNotRedirectTheCheckout(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f33")
	past := metav1.NewTime(now.Add(-time.Minute))
	cart.Status.Checkout = pendingIntent(cart, past.Time)
	cart.Status.Checkout.CustomerID, cart.Status.Checkout.Owner, cart.Status.Checkout.Deadline = testCustomer, "dead", &past
	requestID := cart.Status.Checkout.RequestID
	cart.Spec.CustomerID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	cart.Spec.LineItems[0].Quantity = 500
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
	pc.GetCartFn = func(_ context.Context, customer, id string) (*partnercenter.Cart, error) {
		if customer != testCustomer || id != "cart-1" {
			return nil, &partnercenter.APIError{Operation: partnercenter.OpGetCart, StatusCode: 404, Code: "800008"}
		}
		return &partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusOrdered}, nil
	}
	pc.CheckoutFn = func(_ context.Context, customer, id, rid string) (*partnercenter.CartCheckoutResult, error) {
		if customer != testCustomer || id != "cart-1" || rid != requestID {
			return nil, &partnercenter.APIError{Operation: partnercenter.OpCheckout, StatusCode: 404, Code: "800008"}
		}
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed"}}}, nil
	}
	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
	g.Expect(got.Status.Orders).To(HaveLen(1))
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
	g.Expect(pc.Count(partnercenter.OpCreateCart)+pc.Count(partnercenter.OpUpdateCart)).To(BeZero(), "the new spec is never written upstream")
	g.Expect(got).To(haveCondition(pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.SpecChangedAfterCheckoutReason))
}

// TestStaleCacheDoesNotRecordAPurchaseTwice: right after this process recorded a result, its
// cache can still show the intent Pending; a reconcile then finds the receipt. It must not
// record (and count, and announce) the purchase a second time, nor call checkout.
func TestStaleCacheDoesNotRecordAPurchaseTwice(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f34")
	cart.Status.Checkout = pendingIntent(cart, now)
	recorded := cart.DeepCopy()
	recorded.Status.Orders = []pcv1alpha1.OrderStatus{{ID: "o-1", Status: "completed", TotalPrice: "10.00", CurrencyCode: "USD"}}
	recorded.Status.Checkout.Outcome = pcv1alpha1.CheckoutSucceeded
	receipt, api := receiptWrittenBy(t, recorded)

	var writes writeCounter
	r, cache, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), writes.funcs(), Options{})
	g.Expect(cache.Create(t.Context(), receipt)).To(Succeed())
	r.APIReader = api // the API server already holds the recorded result; the cache does not
	writes.counts = nil
	counted := testutil.ToFloat64(checkoutsTotal.WithLabelValues("succeeded", ""))

	res, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0), "looked at again once the cache caught up")
	_, total := writes.snapshot()
	g.Expect(total).To(BeZero(), "nothing is written from the stale view")
	g.Expect(testutil.ToFloat64(checkoutsTotal.WithLabelValues("succeeded", ""))).To(Equal(counted), "counted once, by the reconcile that recorded it")
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
}

// TestReplacedAccountDoesNotResumeTheCheckout: a checkout made through an account loses its
// answer (Partner Center commits it; the manager dies with the call in flight). While the
// manager is down the platform team deletes the account and creates another of the same name:
// another object, which could hold another partner's credentials (here it even names the same
// Secret). The restarted manager makes no call for that checkout with it, neither the
// re-read of the cart nor the repeat of the checkout: the cart stalls with AccountReplaced and
// waits for a person.
func TestReplacedAccountDoesNotResumeTheCheckout(t *testing.T) {
	g := NewWithT(t)
	gate := newCheckoutGate()
	o := startOperator(t, operatorOptions{middleware: gate.middleware, clock: &testClock{}})
	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: "buyer"},
		StringData: map[string]string{pcv1alpha1.SecretKeyClientSecret: testClientSecret}})).To(Succeed())
	account := func() *pcv1alpha1.PartnerCenterAccount {
		return &pcv1alpha1.PartnerCenterAccount{
			ObjectMeta: metav1.ObjectMeta{Name: o.ns + "-buyer"},
			Spec: pcv1alpha1.PartnerCenterAccountSpec{TenantID: testTenant, ClientID: testClientID,
				Namespaces: pcv1alpha1.AccountNamespaces{Names: []string{o.ns}},
				Auth: pcv1alpha1.AccountAuth{ClientSecret: &pcv1alpha1.ClientSecretAuth{
					SecretRef: pcv1alpha1.AccountSecretKeyReference{Namespace: o.ns, Name: "buyer"}}}},
		}
	}
	first := account()
	g.Expect(env.Client.Create(t.Context(), first)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), account()) })
	cart := newCart(o.ns, "replaced", withApproved())
	cart.Spec.CredentialsSecretRef, cart.Spec.AccountRef = nil, &pcv1alpha1.AccountReference{Name: first.Name}
	g.Expect(env.Client.Create(t.Context(), cart)).To(Succeed())

	g.Eventually(gate.arrived).WithTimeout(30 * time.Second).Should(BeClosed())
	intent := o.get("replaced").Status.Checkout
	g.Expect(intent.Account).To(Equal(first.Name))
	g.Expect(intent.AccountUID).To(Equal(string(first.UID)), "the intent records which account object it was made with")
	o.shutdown()
	gate.decide <- commitAndLoseAnswer
	g.Eventually(func() int { return o.sim.Stats().OrdersCreated }).Should(Equal(1))

	g.Expect(env.Client.Delete(t.Context(), first)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(env.Client.Get(t.Context(), client.ObjectKeyFromObject(first), &pcv1alpha1.PartnerCenterAccount{}))
	}).Should(BeTrue())
	second := account()
	g.Expect(env.Client.Create(t.Context(), second)).To(Succeed())
	g.Expect(second.UID).NotTo(Equal(first.UID))

	calls := func() map[string]int {
		out := map[string]int{}
		for _, op := range []string{"Token", "GetCart", "Checkout", "GetOrder", "ListOrders"} {
			out[op] = o.requests(op)
		}
		return out
	}
	before := calls()
	o.start()
	o.eventually("replaced", 30*time.Second).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.AccountReplacedReason))

	got := o.get("replaced")
	g.Expect(calls()).To(Equal(before), "nothing was sent to Partner Center, or to Entra ID, with the re-created account")
	g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutPending), "the outcome is still to be read, by a person")
	g.Expect(got.Status.Checkout.RequestID).To(Equal(intent.RequestID))
	g.Expect(got.Status.Orders).To(BeEmpty())
	stalledMsg := ""
	for _, c := range got.Status.Conditions {
		if c.Type == pcv1alpha1.StalledCondition {
			stalledMsg = c.Message
		}
	}
	g.Expect(stalledMsg).To(And(ContainSubstring(string(first.UID)), ContainSubstring(string(second.UID)), ContainSubstring(intent.RequestID)))
	g.Expect(o.events("replaced")).To(ContainElement(pcv1alpha1.AccountReplacedReason))
	g.Expect(o.sim.Stats().OrdersCreated).To(Equal(1))
}
