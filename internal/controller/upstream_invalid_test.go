package controller

import (
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// quietWindow is how long a test watches pcsim after a failure condition appears.
const quietWindow = 3 * time.Second

// harnessCredentialsRetry is the CredentialsRetryInterval startOperator sets (harness_test.go).
// The reconciler requeues credentials failures after jitter(interval), i.e. between 0.8 and
// 1.2 times it, and nothing else wakes the cart (status writes do not pass the predicates).
const harnessCredentialsRetry = 2 * time.Second

// maxCredentialAttempts bounds the attempts a cart with refused credentials may make in
// quietWindow: one per 0.8*interval at the fastest (the smallest jitter), rounded up. With
// the harness settings that is ceil(3s/1.6s) = 2; a hot loop would make hundreds.
func maxCredentialAttempts() int {
	fastest := harnessCredentialsRetry * 8 / 10
	return int((quietWindow + fastest - 1) / fastest)
}

// withOnlyLine replaces the cart's line with f.
func withOnlyLine(f pcv1alpha1.LineItemFields) cartOption {
	return func(c *pcv1alpha1.PartnerCart) {
		c.Spec.LineItems = []pcv1alpha1.CartLineItem{{LineItemFields: f}}
	}
}

func withCustomer(id string) cartOption {
	return func(c *pcv1alpha1.PartnerCart) { c.Spec.CustomerID = id }
}

// TestUpstreamRejectionsStallWithoutRetrying: what Partner Center refuses for good stalls the
// cart (Phase Failed, Stalled=True) with the reason and Partner Center's code in the message,
// buys nothing, and makes no further call: retrying could not change the answer.
func TestUpstreamRejectionsStallWithoutRetrying(t *testing.T) {
	cases := []struct {
		name       string
		opts       []cartOption
		reason     string
		messages   []string
		lineErrors []int64 // status.lineItemErrors codes, for per-line refusals
	}{{
		name: "unknown-catalog-item",
		opts: []cartOption{withOnlyLine(pcv1alpha1.LineItemFields{
			ID: 0, CatalogItemID: "ZZZZZZZZZZZZ:0001:ZZZZZZZZZZZZ", Quantity: 5,
			BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y",
		})},
		reason:     pcv1alpha1.LineItemErrorsReason,
		messages:   []string{"line 0: 400013", "ZZZZZZZZZZZZ", "fix spec.lineItems"},
		lineErrors: []int64{400013},
	}, {
		name: "attestation-missing",
		opts: []cartOption{withOnlyLine(pcv1alpha1.LineItemFields{
			ID: 0, CatalogItemID: "CFQ7TTC0HHS9:0001:CFQ7TTC0J1FV", Quantity: 5,
			BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y", FriendlyName: "Windows 365",
		})},
		reason:     pcv1alpha1.LineItemErrorsReason,
		messages:   []string{"line 0: " + strconv.Itoa(partnercenter.CartErrorAttestationNotAccepted), "attestationAccepted"},
		lineErrors: []int64{partnercenter.CartErrorAttestationNotAccepted},
	}, {
		name:   "quantity-over-sku-maximum",
		opts:   []cartOption{func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 2501 }},
		reason: pcv1alpha1.LineItemErrorsReason,
		messages: []string{"line 0: " + strconv.Itoa(partnercenter.CartErrorInvalidInput), "Quantity 2501",
			"maximum of 2500"},
		lineErrors: []int64{partnercenter.CartErrorInvalidInput},
	}, {
		name:     "unknown-customer",
		opts:     []cartOption{withCustomer(pcsim.NilCustomerID)},
		reason:   pcv1alpha1.UpstreamRejectedReason,
		messages: []string{"does not know customer " + pcsim.NilCustomerID, "HTTP 404"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			o := startSpiedOperator(t, operatorOptions{})
			// Approved, so that only the refusal stands between the cart and a checkout.
			o.create(tc.name, append([]cartOption{withApproved()}, tc.opts...)...)

			o.eventually(tc.name, 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseFailed),
				haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, tc.reason),
				haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, tc.reason)))
			expectQuiet(o, quietWindow, 0, "a stalled cart makes no further upstream call")

			cart := o.get(tc.name)
			for _, m := range tc.messages {
				g.Expect(conditionMessage(cart, pcv1alpha1.StalledCondition)).To(ContainSubstring(m))
				g.Expect(conditionMessage(cart, pcv1alpha1.ReadyCondition)).To(ContainSubstring(m))
			}
			g.Expect(conditionMessage(cart, pcv1alpha1.ReconcilingCondition)).To(BeEmpty(), "a stalled cart is not reconciling")
			g.Expect(cart.Status.ObservedGeneration).To(Equal(cart.Generation), "a terminal failure is a reconciled generation")
			g.Expect(cart.Status.Checkout).To(BeNil(), "nothing may be checked out")
			g.Expect(o.requests("Checkout")).To(BeZero())
			g.Expect(o.sim.Stats().OrdersCreated).To(BeZero())
			var codes []int64
			for _, e := range cart.Status.LineItemErrors {
				codes = append(codes, e.ErrorCode)
			}
			if tc.lineErrors == nil {
				g.Expect(codes).To(BeEmpty())
			} else {
				g.Expect(codes).To(Equal(tc.lineErrors))
				g.Expect(cart).To(haveCondition(pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.LineItemErrorsReason))
				g.Eventually(func() []string { return o.events(tc.name) }).Should(ContainElement(pcv1alpha1.EventLineItemErrors))
			}
			assertNoSecretsLeaked(t, o)
		})
	}
}

// TestCredentialProblemsRetrySlowly: missing or refused credentials give Ready=False with a
// reason naming the problem, never Stalled (a person fixing the Secret must be enough), and a
// slow retry, never a hot loop.
func TestCredentialProblemsRetrySlowly(t *testing.T) {
	wrongSecret := "wrong-" + testClientSecret[:8] + "-but-still-secret"
	cases := []struct {
		name     string
		opts     operatorOptions
		messages []string
		reason   string
		// upstream: whether the problem is only found by asking Partner Center (the token
		// endpoint). Local problems (no Secret, a missing key) make no call at all.
		upstream bool
	}{{
		name: "wrong-client-secret",
		opts: operatorOptions{secretData: map[string]string{
			pcv1alpha1.SecretKeyTenantID: testTenant, pcv1alpha1.SecretKeyClientID: testClientID, pcv1alpha1.SecretKeyClientSecret: wrongSecret,
		}},
		reason:   pcv1alpha1.InvalidCredentialsReason,
		messages: []string{"Partner Center refused the credentials", "invalid_client"},
		upstream: true,
	}, {
		name:     "secret-not-found",
		opts:     operatorOptions{noSecret: true},
		reason:   pcv1alpha1.CredentialsSecretNotFoundReason,
		messages: []string{"partner-center", "does not exist", pcv1alpha1.SecretKeyClientSecret},
	}, {
		name: "secret-lacks-client-secret",
		opts: operatorOptions{secretData: map[string]string{
			pcv1alpha1.SecretKeyTenantID: testTenant, pcv1alpha1.SecretKeyClientID: testClientID,
		}},
		reason:   pcv1alpha1.InvalidCredentialsReason,
		messages: []string{"lacks key(s) " + pcv1alpha1.SecretKeyClientSecret},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			o := startSpiedOperator(t, tc.opts)
			o.create(tc.name)

			o.eventually(tc.name, 30*time.Second).Should(And(havePhase(pcv1alpha1.PhasePending),
				haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, tc.reason),
				haveCondition(pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue, tc.reason)))
			cart := o.get(tc.name)
			for _, m := range tc.messages {
				g.Expect(conditionMessage(cart, pcv1alpha1.ReadyCondition)).To(ContainSubstring(m))
			}
			g.Expect(conditionMessage(cart, pcv1alpha1.StalledCondition)).To(BeEmpty(), "credentials can be fixed: never Stalled")
			g.Eventually(func() []string { return o.events(tc.name) }).Should(ContainElement(pcv1alpha1.EventCredentialsInvalid))

			if tc.upstream {
				// Each attempt asks the token endpoint once and nothing else (the client does not
				// retry refused credentials): at most maxCredentialAttempts calls in the window.
				g.Expect(o.requests("Token")).To(Equal(upstreamCalls(o)), "only the token endpoint is called")
				expectQuiet(o, quietWindow, maxCredentialAttempts(),
					"refused credentials are retried at most once per CredentialsRetryInterval")
				// ...and it does retry: the problem may be fixed upstream without touching the cart.
				before := o.requests("Token")
				g.Eventually(func() int { return o.requests("Token") }).WithTimeout(10*time.Second).
					Should(BeNumerically(">", before), "refused credentials are retried, slowly")
			} else {
				// A local problem never reaches Partner Center.
				expectQuiet(o, quietWindow, 0, "no credentials, no upstream call")
				g.Expect(upstreamCalls(o)).To(BeZero())
			}
			g.Expect(o.get(tc.name).Status.Cart).To(BeNil(), "no cart can be created without credentials")
			assertNoSecretsLeaked(t, o)

			// Fixing the Secret is enough (no edit of the cart): the Secret watch, or the slow
			// retry, wakes the cart, which creates its cart upstream and waits for approval.
			fixed := map[string]string{pcv1alpha1.SecretKeyTenantID: testTenant, pcv1alpha1.SecretKeyClientID: testClientID, pcv1alpha1.SecretKeyClientSecret: testClientSecret}
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: "partner-center"}}
			if tc.opts.noSecret {
				secret.StringData = fixed
				g.Expect(env.Client.Create(t.Context(), secret)).To(Succeed())
			} else {
				g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(secret), secret)).To(Succeed())
				secret.StringData = fixed
				g.Expect(env.Client.Update(t.Context(), secret)).To(Succeed())
			}
			o.eventually(tc.name, 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
				haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.WaitingForApprovalReason),
				haveCondition(pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartSyncedReason)),
				"after the Secret is fixed the cart is created upstream")
			g.Expect(o.get(tc.name).Status.Conditions).NotTo(ContainElement(HaveField("Reason", tc.reason)))
			g.Expect(o.requests("CreateCart")).To(Equal(1))
		})
	}
}
