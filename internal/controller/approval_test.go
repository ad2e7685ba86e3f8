package controller

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// TestSpecEditBeforeApprovalCausesOnePut: editing the line items of a waiting cart PUTs the
// whole cart once; waiting itself makes no upstream call.
func TestSpecEditBeforeApprovalCausesOnePut(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("edit")
	o.eventually("edit", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.WaitingForApprovalReason)))
	first := o.get("edit").Status.SpecHash
	quiet := o.sim.Stats().Requests
	g.Consistently(func() any { return o.sim.Stats().Requests }).WithTimeout(time.Second).Should(Equal(quiet), "waiting makes no upstream call")

	o.update("edit", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 30 })
	o.eventually("edit", 30*time.Second).Should(WithTransform(func(c *pcv1alpha1.PartnerCart) bool {
		return c.Status.Cart != nil && c.Status.Cart.SyncedSpecHash == c.Status.SpecHash && c.Status.SpecHash != first
	}, BeTrue()))
	g.Consistently(func() int { return o.requests("UpdateCart") }).WithTimeout(time.Second).Should(Equal(1))
	g.Expect(o.requests("CreateCart")).To(Equal(1))
	g.Expect(o.get("edit").Status.Cart.QuotedTotal).To(Equal("20520.00"), "30 seats of E5 at 57.00 a month for 12 months")
	g.Eventually(func() []string { return o.events("edit") }).Should(ContainElement(pcv1alpha1.EventCartUpdated))

	// Approval-only edits change no purchase content: no PUT.
	o.update("edit", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.MaxTotalPrice = "100000" })
	o.eventually("edit", 30*time.Second).Should(haveObservedItsGeneration(), "the edit was reconciled")
	g.Consistently(func() int { return o.requests("UpdateCart") }).WithTimeout(time.Second).Should(Equal(1))
}

// TestPinnedApprovalLapsesWhenContentChanges: an approval pinned to a spec hash stops counting
// as soon as the purchase content changes, so nothing is bought until it is re-approved.
func TestPinnedApprovalLapsesWhenContentChanges(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("pinned")
	o.eventually("pinned", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))
	hash := o.get("pinned").Status.SpecHash

	// Approve the current content, and change it in the same edit: the pin no longer matches.
	o.update("pinned", func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval = pcv1alpha1.Approval{Approved: true, SpecHash: hash}
		c.Spec.LineItems[0].Quantity = 99
	})
	o.eventually("pinned", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.ApprovalHashMismatchReason)))
	g.Consistently(func() int { return o.requests("Checkout") }).WithTimeout(time.Second).Should(BeZero())

	// Re-pinning to the new content lets the checkout go.
	newHash := o.get("pinned").Status.SpecHash
	g.Expect(newHash).NotTo(Equal(hash))
	o.update("pinned", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.SpecHash = newHash })
	o.eventually("pinned", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.get("pinned").Status.Checkout.SpecHash).To(Equal(newHash))
}

// TestMaxTotalPriceBlocksCheckout: a spending guard below the quoted total blocks checkout;
// raising it lets the checkout go.
func TestMaxTotalPriceBlocksCheckout(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("guarded", withApproved(), withMaxTotal("1000.00")) // 25 x 57.00 x 12 months = 17100.00
	o.eventually("guarded", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.PriceLimitExceededReason)))
	g.Expect(conditionMessage(o.get("guarded"), pcv1alpha1.ApprovedCondition)).To(ContainSubstring("17100.00 USD"))
	g.Consistently(func() int { return o.requests("Checkout") }).WithTimeout(time.Second).Should(BeZero())

	o.update("guarded", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.MaxTotalPrice = "17100" })
	o.eventually("guarded", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
}

// TestLineItemErrorsBlockUntilFixed: Partner Center's per-line errors land in status and block
// checkout with no retries; fixing the spec PUTs the cart and the purchase proceeds.
func TestLineItemErrorsBlockUntilFixed(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("w365", withApproved(), func(c *pcv1alpha1.PartnerCart) {
		c.Spec.LineItems[0].CatalogItemID = "CFQ7TTC0HHS9:0001:CFQ7TTC0J1FV" // Windows 365: attestation required
	})
	o.eventually("w365", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseFailed),
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.LineItemErrorsReason),
		haveCondition(pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.LineItemErrorsReason)))
	cart := o.get("w365")
	g.Expect(cart.Status.LineItemErrors).To(HaveLen(1))
	g.Expect(cart.Status.LineItemErrors[0].ErrorCode).To(Equal(int64(10012)))
	g.Expect(conditionMessage(cart, pcv1alpha1.ReadyCondition)).To(ContainSubstring("line 0: 10012"))
	g.Expect(cart.Status.ObservedGeneration).To(Equal(cart.Generation), "a terminal failure is observed")
	calls := o.sim.Stats().Requests
	g.Consistently(func() any { return o.sim.Stats().Requests }).WithTimeout(time.Second).Should(Equal(calls), "no retries")

	o.update("w365", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].AttestationAccepted = ptrTo(true) })
	o.eventually("w365", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.get("w365").Status.LineItemErrors).To(BeEmpty())
	g.Expect(o.requests("UpdateCart")).To(Equal(1))
}

// TestExpiredCartIsRecreatedBeforeCheckout: a cart that expired upstream while waiting for
// approval is found gone at checkout; since that checkout provably bought nothing, the
// operator re-creates the cart and checks out the new one, once.
func TestExpiredCartIsRecreatedBeforeCheckout(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("stale")
	o.eventually("stale", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))
	old := o.get("stale").Status.Cart.ID
	g.Expect(o.sim.ExpireCart(old)).To(BeTrue())

	o.update("stale", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
	o.eventually("stale", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	cart := o.get("stale")
	g.Expect(cart.Status.Checkout.CartID).NotTo(Equal(old))
	stats := o.sim.Stats()
	g.Expect(stats.CartsCreated).To(Equal(2))
	g.Expect(stats.OrdersPerCart).To(Equal(map[string]int{cart.Status.Checkout.CartID: 1}))
	g.Eventually(func() []string { return o.events("stale") }).Should(ContainElement(pcv1alpha1.EventCartRecreated))
}

// TestCartNearExpiryIsRecreatedWithoutTryingIt: a cart whose expirationTimestamp has passed is
// re-created from the spec before any checkout is attempted.
func TestCartNearExpiryIsRecreatedWithoutTryingIt(t *testing.T) {
	g := NewWithT(t)
	clock := &testClock{}
	o := startOperator(t, operatorOptions{sim: pcsim.Options{CartTTL: time.Hour, Now: clock.Now}, clock: clock})
	o.create("aging")
	o.eventually("aging", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))
	old := o.get("aging").Status.Cart.ID
	clock.Skip(2 * time.Hour) // time passes, for Partner Center and the operator alike

	o.update("aging", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
	o.eventually("aging", 30*time.Second).Should(WithTransform(func(c *pcv1alpha1.PartnerCart) string {
		if c.Status.Checkout == nil {
			return ""
		}
		return c.Status.Checkout.CartID
	}, And(Not(BeEmpty()), Not(Equal(old)))))
	o.eventually("aging", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.sim.Stats().CheckoutsExecuted).NotTo(HaveKey(old), "the expired cart is never tried")
	g.Eventually(func() []string { return o.events("aging") }).Should(ContainElement(pcv1alpha1.EventCartRecreated))
}

// TestAdmissionPolicyRefusesEditsAfterCheckout: once checked out, the purchase content is
// frozen at admission.
func TestAdmissionPolicyRefusesEditsAfterCheckout(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("frozen", withApproved())
	o.eventually("frozen", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Eventually(func() string {
		c := o.get("frozen")
		c.Spec.LineItems[0].Quantity = 500
		err := env.Client.Update(t.Context(), c)
		if err == nil {
			return ""
		}
		return err.Error()
	}).Should(ContainSubstring("spec.lineItems is immutable after checkout"))
	// Nor can the credentials that bought be swapped for an account (or another account).
	c := o.get("frozen")
	c.Spec.CredentialsSecretRef, c.Spec.AccountRef = nil, &pcv1alpha1.AccountReference{Name: "another-partner"}
	g.Expect(env.Client.Update(t.Context(), c)).To(MatchError(ContainSubstring(
		"spec.accountRef is immutable after checkout: cart " + c.Status.Checkout.CartID + " was checked out with the Secret named by spec.credentialsSecretRef")))
	// Non-purchase fields stay editable (e.g. annotations, approval).
	o.update("frozen", func(c *pcv1alpha1.PartnerCart) { c.Annotations = map[string]string{"note": "ok"} })
	g.Expect(strings.Contains(o.get("frozen").Annotations["note"], "ok")).To(BeTrue())
}

// TestPurchaseFreeze: with the kill switch on, an approved cart is synced and approved but
// never checked out; a manager started without it buys the cart once.
func TestPurchaseFreeze(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{reconciler: Options{PurchaseFreeze: true}})
	o.create("frozen", withApproved())
	o.eventually("frozen", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, pcv1alpha1.ApprovedReason),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.PurchaseFrozenReason)))
	g.Consistently(func() int { return o.requests("Checkout") }).WithTimeout(time.Second).Should(BeZero())
	g.Expect(o.get("frozen").Status.Checkout).To(BeNil(), "no intent while frozen")
	g.Eventually(func() []string { return o.events("frozen") }).Should(ContainElement(pcv1alpha1.EventPurchaseFrozen))

	o.shutdown()
	o.opts.reconciler.PurchaseFreeze = false
	o.start()
	o.eventually("frozen", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.sim.Stats().OrdersCreated).To(Equal(1))
}

// TestTheCustomerIsNamedBeforeApproval: when the cart is created the operator reads who it
// buys for, so that an approver sees a mistyped customer ID as another company
// (status.customer, the Company column, `kubectl partnercart quote`).
func TestTheCustomerIsNamedBeforeApproval(t *testing.T) {
	o := startOperator(t, operatorOptions{sim: pcsim.Options{Customers: map[string]string{testCustomer: "Contoso Ltd"}}})
	o.create("named")
	o.eventually("named", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		WithTransform(func(c *pcv1alpha1.PartnerCart) *pcv1alpha1.CustomerStatus { return c.Status.Customer },
			Equal(&pcv1alpha1.CustomerStatus{ID: testCustomer, CompanyName: "Contoso Ltd", Domain: testCustomer[:8] + ".onmicrosoft.com"}))))
	NewWithT(t).Expect(o.requests("GetCustomer")).To(Equal(1), "read once, with the cart's creation")
}
