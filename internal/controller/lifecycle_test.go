package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// TestHappyPath: an approved cart is created, checked out once, its orders tracked to
// completed with subscription IDs, and a receipt is written; then the operator goes quiet.
func TestHappyPath(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	succeeded := testutil.ToFloat64(checkoutsTotal.WithLabelValues("succeeded", ""))
	spent := testutil.ToFloat64(spendTotal.WithLabelValues("USD", ""))
	o.create("e5", withApproved())

	o.eventually("e5", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseCompleted),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason)))
	cart := o.get("e5")
	g.Expect(cart.Finalizers).To(ContainElement(pcv1alpha1.Finalizer))
	g.Expect(cart.Status.ObservedGeneration).To(Equal(cart.Generation))
	g.Expect(cart.Status.SpecHash).To(HavePrefix("sha256:"))
	g.Expect(cart.Status.Cart.SyncedSpecHash).To(Equal(cart.Status.SpecHash))
	g.Expect(cart.Status.Checkout.RequestID).To(Equal(checkoutRequestID(cart.UID, cart.Status.Checkout.CartID, 1)))
	g.Expect(cart.Status.Checkout.CompletedAt).NotTo(BeNil())
	g.Expect(cart.Status.Orders).To(HaveLen(1))
	g.Expect(cart.Status.Orders[0].Status).To(Equal(partnercenter.OrderStatusCompleted))
	g.Expect(cart.Status.Orders[0].LineItems).To(HaveLen(1))
	g.Expect(cart.Status.Orders[0].LineItems[0].SubscriptionID).NotTo(BeEmpty())
	g.Expect(cart.Status.OrderCount).To(Equal(int32(1)))
	g.Expect(cart.Status.Total).To(HaveSuffix(" USD"))
	for _, cond := range []string{pcv1alpha1.StalledCondition, pcv1alpha1.ReconcilingCondition} {
		g.Expect(conditionMessage(cart, cond)).To(BeEmpty(), cond+" is removed when false")
	}

	// One cart, one checkout, one order set, in exactly the calls the design allows.
	stats := o.sim.Stats()
	g.Expect(stats.CartsCreated).To(Equal(1))
	g.Expect(stats.OrdersPerCart).To(Equal(map[string]int{cart.Status.Checkout.CartID: 1}))
	g.Expect(stats.DuplicateCheckouts).To(BeZero())
	g.Expect(o.requests("Checkout")).To(Equal(1))
	g.Expect(o.requests("UpdateCart")).To(BeZero())

	// The receipt records the purchase, immutable and owned by nobody.
	receipt := &corev1.ConfigMap{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: o.receiptNS, Name: cart.Status.ReceiptName}, receipt)).To(Succeed())
	g.Expect(*receipt.Immutable).To(BeTrue())
	g.Expect(receipt.OwnerReferences).To(BeEmpty())
	g.Expect(receipt.Data).To(HaveKeyWithValue("cartId", cart.Status.Checkout.CartID))
	g.Expect(receipt.Data).To(HaveKeyWithValue("orderIds", cart.Status.Orders[0].ID))
	g.Expect(receipt.Data).To(HaveKeyWithValue("checkoutRequestId", cart.Status.Checkout.RequestID))
	// Who approved which spec hash: admission stamped the approver, the intent and receipt keep it.
	g.Expect(cart.Spec.Approval.ApprovedBy).NotTo(BeEmpty())
	g.Expect(cart.Status.Checkout.ApprovedBy).To(Equal(cart.Spec.Approval.ApprovedBy))
	g.Expect(cart.Status.Checkout.ApprovedAt).To(Equal(cart.Spec.Approval.ApprovedAt))
	g.Expect(receipt.Data).To(HaveKeyWithValue("approvedBy", cart.Spec.Approval.ApprovedBy))
	g.Expect(receipt.Data["receipt.json"]).To(ContainSubstring(`"specHash": "` + cart.Status.Checkout.SpecHash))
	g.Expect(receipt.Data).To(HaveKeyWithValue("customerId", testCustomer))

	g.Expect(testutil.ToFloat64(checkoutsTotal.WithLabelValues("succeeded", ""))).To(Equal(succeeded + 1))
	g.Expect(testutil.ToFloat64(spendTotal.WithLabelValues("USD", ""))).To(Equal(spent+17100), "25 seats of E5 at 57.00 a month for 12 months")

	// One Event for the purchase (the orders pending then); their completion is Ready=True,
	// not another Event.
	g.Eventually(func() []string { return o.events("e5") }).Should(ConsistOf(pcv1alpha1.EventOrdersCreated))
	g.Consistently(func() []string { return o.events("e5") }).WithTimeout(time.Second).Should(ConsistOf(pcv1alpha1.EventOrdersCreated))

	// Completed is terminal: a resync (forced here by an annotation) makes no upstream call.
	before := o.sim.Stats().Requests
	o.touch("e5", func(c *pcv1alpha1.PartnerCart) { c.Annotations = map[string]string{"touch": "1"} })
	g.Consistently(func() any { return o.sim.Stats().Requests }).WithTimeout(time.Second).Should(Equal(before))
	writes, total := o.writes.snapshot()
	t.Logf("happy path: Partner Center calls %v; API-server writes %d %v (events not counted)", o.sim.Stats().Requests, total, writes)
	// finalizer, checkout intent, checkout result, receipt, completion: nothing else.
	g.Expect(total).To(BeNumerically("<=", 5), "API-server writes per cart on the happy path")
}

// TestOrdersFinalAtCheckout: when the checkout answers with orders already completed, the
// completion is recorded with the result (no fifth write, no order poll) and one Event says
// so, with no OrdersCompleted after it.
func TestOrdersFinalAtCheckout(t *testing.T) {
	g := NewWithT(t)
	// pcsim completes an order on the first read 1 ns after its creation: the checkout answer,
	// read after the orders were made, already shows them completed.
	o := startOperator(t, operatorOptions{sim: pcsim.Options{OrderCompleteAfter: time.Nanosecond}})
	o.create("instant", withApproved())
	o.eventually("instant", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseCompleted),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason)))
	cart := o.get("instant")
	g.Expect(cart.Status.Orders).To(HaveLen(1))
	g.Expect(cart.Status.Orders[0].LineItems[0].SubscriptionID).NotTo(BeEmpty())
	g.Expect(o.requests("GetOrder")).To(BeZero(), "a completed order is not polled")
	writes, total := o.writes.snapshot()
	// finalizer, intent, result with completion, receipt.
	g.Expect(total).To(Equal(4), "writes %v", writes)
	g.Eventually(func() []string { return o.events("instant") }).Should(Equal([]string{pcv1alpha1.EventOrdersCreated}))
	g.Consistently(func() []string { return o.events("instant") }).WithTimeout(time.Second).Should(Equal([]string{pcv1alpha1.EventOrdersCreated}))
}

// TestFailedOrderGroupsStayFailed: a checkout whose only order group fails buys nothing and
// stays Failed across later reconciles; a partly failed checkout stalls after its orders
// complete, naming what was not bought; an order that ends in error stalls with OrdersFailed.
func TestFailedOrderGroupsStayFailed(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("nothing", withApproved(), func(c *pcv1alpha1.PartnerCart) {
		c.Spec.LineItems[0].CatalogItemID = "CFQ7TTC0LF8S:0001:CFQ7TTC0FAIL" // its order group fails at checkout
	})
	o.create("partly", withApproved(), func(c *pcv1alpha1.PartnerCart) {
		c.Spec.LineItems = append(c.Spec.LineItems, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
			ID: 1, CatalogItemID: "CFQ7TTC0LF8S:0001:CFQ7TTC0FAIL", Quantity: 1,
			BillingCycle: pcv1alpha1.BillingCycleAnnual, TermDuration: "P1Y"}})
	})
	o.create("errored", withApproved(), func(c *pcv1alpha1.PartnerCart) {
		c.Spec.LineItems[0].CatalogItemID = "CFQ7TTC0LF8S:0001:CFQ7TTC0TEST" // its order ends in "error"
	})

	// Every order group failed on the only call: nothing was bought, the intent is history.
	o.eventually("nothing", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseFailed),
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutRefusedReason)))
	o.eventually("partly", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseFailed),
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutPartiallyFailedReason)))
	o.eventually("errored", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseFailed),
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.OrdersFailedReason)))
	g.Expect(o.get("nothing").Status.OrderErrors).To(HaveLen(1))
	g.Expect(o.get("partly").Status.Orders).To(HaveLen(1))

	// A restart reconciles everything again: nothing changes its mind. The quiet is asserted
	// once the restarted manager has reconciled each of them, not before it started.
	checkouts := o.requests("Checkout")
	o.shutdown()
	o.start()
	o.reconciledSinceStart("nothing", "partly", "errored")
	g.Expect(o.requests("Checkout")).To(Equal(checkouts), "no checkout is repeated")
	for _, name := range []string{"nothing", "partly", "errored"} {
		g.Consistently(func() pcv1alpha1.Phase { return o.get(name).Status.Phase }).WithTimeout(2 * time.Second).Should(Equal(pcv1alpha1.PhaseFailed))
	}
	g.Expect(o.events("nothing")).NotTo(ContainElement(pcv1alpha1.EventOrdersCompleted))
	// What was not bought is a Warning, once, restart or not.
	g.Eventually(func() []string { return o.events("partly") }).Should(ContainElement(pcv1alpha1.CheckoutPartiallyFailedReason))
	g.Expect(countOf(o.events("partly"), pcv1alpha1.CheckoutPartiallyFailedReason)).To(Equal(1))
	// The unfulfilled order is a Warning, once, restart or not.
	g.Eventually(func() []string { return o.events("errored") }).Should(ContainElement(pcv1alpha1.OrdersFailedReason))
	g.Expect(countOf(o.events("errored"), pcv1alpha1.OrdersFailedReason)).To(Equal(1))
	g.Expect(o.sim.Stats().DuplicateCheckouts).To(BeZero())
}

func countOf(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}

// TestPausedCartMakesNoCall: a cart created paused (the annotation, from Git or `kubectl
// partnercart pause`) is read and shown Paused, and nothing reaches Partner Center, not even
// the cart; removing the annotation resumes it and it is bought once.
func TestPausedCartMakesNoCall(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("held", withApproved(), func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.PausedAnnotation: "true"}
	})
	o.eventually("held", 30*time.Second).Should(And(haveObservedItsGeneration(),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.PausedReason)))
	g.Expect(o.get("held").Status.Conditions).NotTo(ContainElement(HaveField("Type", pcv1alpha1.ReconcilingCondition)), "a pause is not work in flight")
	g.Expect(o.sim.Stats().Requests).To(BeEmpty(), "no call to Partner Center, not even a token")

	o.update("held", func(c *pcv1alpha1.PartnerCart) { delete(c.Annotations, pcv1alpha1.PausedAnnotation) })
	o.eventually("held", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.requests("Checkout")).To(Equal(1))

	// Paused once bought: the phase stays Completed, and nothing is polled or written upstream.
	o.touch("held", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.PausedAnnotation: "true"}
	})
	g.Expect(o.get("held")).To(And(havePhase(pcv1alpha1.PhaseCompleted),
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.PausedReason)))
}
