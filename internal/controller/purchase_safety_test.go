package controller

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// The tests in this file walk the paths of issue 10 on which the first release (4abeaaf)
// bought after approval was withdrawn, recorded a purchase as "nothing bought", bought again,
// bought unapproved content, or lost a record. Each fails on that commit.

// withCheckoutFault makes pcsim shape the checkouts of every E5 cart.
func withCheckoutFault(f pcsim.CheckoutFault) operatorOptions {
	return operatorOptions{sim: pcsim.Options{Faults: pcsim.Faults{CheckoutFaults: map[string]pcsim.CheckoutFault{testItemE5: f}}}}
}

// directClient is a Partner Center client of the test's pcsim, as a person or another tool
// would use it.
func directClient(t *testing.T, o *operator) partnercenter.Client {
	t.Helper()
	pc, err := partnercenter.NewFactory(partnercenter.Config{Endpoint: o.simURL, AuthorityHost: o.simURL}).
		ClientFor(partnercenter.Credentials{TenantID: testTenant, ClientID: testClientID, ClientSecret: testClientSecret})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return pc
}

func observedGeneration(c *pcv1alpha1.PartnerCart) bool {
	return c.Status.ObservedGeneration == c.Generation
}

// Path 1: a definite refusal (403, a credit limit) leaves nothing bought. Withdrawing the
// approval, or lowering maxTotalPrice, must then keep it that way: the refused intent is
// history and a new one passes the whole gate again.
func TestRefusedCheckoutThenApprovalWithdrawnBuysNothing(t *testing.T) {
	for name, withdraw := range map[string]func(*pcv1alpha1.PartnerCart){
		"approval revoked":       func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = false },
		"maxTotalPrice lowered":  func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.MaxTotalPrice = "1.00" },
		"pin to another content": func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.SpecHash = "sha256:" + strings.Repeat("0", 64) },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			o := startOperator(t, withCheckoutFault(pcsim.CheckoutFault{RefuseFirstCheckout: &pcsim.CheckoutRefusal{Status: http.StatusForbidden}}))
			o.create("refused", withApproved())
			o.eventually("refused", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseFailed),
				haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutRefusedReason)))
			cart := o.get("refused")
			g.Expect(cart.Status.Checkout).To(BeNil(), "a refused intent is history, not a gate")
			g.Expect(cart.Status.CheckoutHistory).To(HaveLen(1))
			g.Expect(cart.Status.CheckoutHistory[0].Outcome).To(Equal(pcv1alpha1.CheckoutRefused))
			g.Expect(cart.Status.CheckoutHistory[0].Message).To(ContainSubstring("403"))
			g.Expect(o.requests("Checkout")).To(Equal(1))

			// pcsim would now accept a checkout: anything that checks out again buys.
			o.update("refused", withdraw)
			o.eventually("refused", 30*time.Second).Should(And(Satisfy(observedGeneration),
				haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, approvalReasonFor(name))))
			g.Expect(o.requests("Checkout")).To(Equal(1), "nothing is checked out after the approval was withdrawn")
			g.Expect(o.sim.Orders()).To(BeEmpty())
		})
	}

	t.Run("re-approved, a new intent with a new request ID buys once", func(t *testing.T) {
		g := NewWithT(t)
		o := startOperator(t, withCheckoutFault(pcsim.CheckoutFault{RefuseFirstCheckout: &pcsim.CheckoutRefusal{Status: http.StatusForbidden}}))
		o.create("retry", withApproved())
		o.eventually("retry", 30*time.Second).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutRefusedReason))
		first := o.get("retry").Status.CheckoutHistory[0]
		// The person fixes the cause upstream and says "try again" by changing the spec.
		o.update("retry", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.MaxTotalPrice = "100000" })
		o.eventually("retry", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
		co := o.get("retry").Status.Checkout
		g.Expect(co.Intent).To(Equal(int32(2)))
		g.Expect(co.RequestID).NotTo(Equal(first.RequestID))
		g.Expect(co.CartID).To(Equal(first.CartID))
		g.Expect(o.sim.Orders()).To(HaveLen(1))
		g.Expect(o.sim.Stats().DuplicateCheckouts).To(BeZero())
	})

	t.Run("under --purchase-freeze, a refused cart is not checked out again", func(t *testing.T) {
		g := NewWithT(t)
		o := startOperator(t, withCheckoutFault(pcsim.CheckoutFault{RefuseFirstCheckout: &pcsim.CheckoutRefusal{Status: http.StatusForbidden}}))
		o.create("frozen", withApproved())
		o.eventually("frozen", 30*time.Second).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutRefusedReason))
		o.shutdown()
		o.opts.reconciler.PurchaseFreeze = true
		o.start()
		o.update("frozen", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.MaxTotalPrice = "100000" })
		o.eventually("frozen", 30*time.Second).Should(And(Satisfy(observedGeneration),
			haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.PurchaseFrozenReason)))
		g.Expect(o.requests("Checkout")).To(Equal(1))
		g.Expect(o.sim.Orders()).To(BeEmpty())
	})
}

func approvalReasonFor(withdrawal string) string {
	switch withdrawal {
	case "maxTotalPrice lowered":
		return pcv1alpha1.PriceLimitExceededReason
	case "pin to another content":
		return pcv1alpha1.ApprovalHashMismatchReason
	}
	return pcv1alpha1.WaitingForApprovalReason
}

// Path 2: the first checkout commits but its answer is lost; the repeat is refused. That
// refusal says nothing about the first call, so the outcome is Unknown (never "nothing
// bought"), the person is shown the order that exists, and deletion waits for them.
func TestRefusalOfARepeatedCheckoutIsUnknown(t *testing.T) {
	for name, refusal := range map[string]pcsim.CheckoutRefusal{
		"404":        {Status: http.StatusNotFound},
		"400 800010": {Status: http.StatusBadRequest, Code: 800010},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			o := startOperator(t, withCheckoutFault(pcsim.CheckoutFault{LoseCheckoutAnswer: true, RefuseRepeatCheckout: &refusal}))
			o.create("lost-answer", withApproved())
			o.eventually("lost-answer", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseCheckingOut),
				haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutOutcomeUnknownReason)))
			orders := o.sim.Orders()
			g.Expect(orders).To(HaveLen(1), "the first call bought")
			cart := o.get("lost-answer")
			co := cart.Status.Checkout
			g.Expect(co.Outcome).To(Equal(pcv1alpha1.CheckoutUnknown))
			g.Expect(co.CartSeenOrdered).To(BeTrue())
			g.Expect(co.Message).To(ContainSubstring(orders[0].OrderID), "the person is shown the candidate order")
			g.Expect(cart.Status.CheckoutHistory).To(BeEmpty())

			// Deleting it must not lose the purchase: it waits for a person, and says so.
			g.Expect(env.Client.Delete(t.Context(), cart)).To(Succeed())
			o.eventually("lost-answer", 30*time.Second).Should(
				haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.DeletionBlockedReason))
			g.Expect(receiptsIn(t, o.receiptNS)).To(BeEmpty())

			o.update("lost-answer", func(c *pcv1alpha1.PartnerCart) {
				c.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: co.RequestID + "/orders=" + orders[0].OrderID}
			})
			o.waitGone("lost-answer")
			receipts := receiptsIn(t, o.receiptNS)
			g.Expect(receipts).To(HaveLen(1))
			g.Expect(receipts[0].Data).To(HaveKeyWithValue("orderIds", orders[0].OrderID))
		})
	}
}

// Path 3: a Completed cart deleted and re-applied (Argo CD prune and re-sync, kubectl replace
// --force, a restore) is a new object with empty status; it must not buy again unless a person
// names the earlier receipt.
func TestReappliedCartDoesNotBuyAgain(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("gitops", withApproved())
	o.eventually("gitops", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	receipt := o.get("gitops").Status.ReceiptName
	o.deleteAndWait("gitops")

	o.create("gitops", withApproved())
	o.eventually("gitops", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseFailed),
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.PreviouslyPurchasedReason)))
	msg := conditionMessage(o.get("gitops"), pcv1alpha1.StalledCondition)
	g.Expect(msg).To(ContainSubstring(receipt))
	g.Expect(msg).To(ContainSubstring(o.sim.Orders()[0].OrderID))
	g.Expect(msg).To(ContainSubstring(pcv1alpha1.RepurchaseOfAnnotation))
	g.Expect(o.requests("Checkout")).To(Equal(1))
	g.Expect(o.sim.Orders()).To(HaveLen(1))

	// A person who does want to buy again says so, naming the receipt.
	o.update("gitops", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.RepurchaseOfAnnotation: receipt}
	})
	o.eventually("gitops", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.sim.Orders()).To(HaveLen(2))
	g.Expect(o.sim.Stats().DuplicateCheckouts).To(BeZero())
}

// Path 3 with a lagging cache: the receipts are looked up in the manager's cache, which may
// not yet hold a receipt written just before its object was deleted and re-applied. Here the
// cache never shows one: a miss it cannot prove complete is checked against the API server,
// and the re-applied cart stops. (Trusting the miss would buy again: the identical-purchase
// guard lets the earlier order pass, since a receipt records it.)
func TestReceiptCacheLagDoesNotBuyAgain(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{receiptCacheBlind: true})
	o.create("lagging", withApproved())
	o.eventually("lagging", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	receipt := o.get("lagging").Status.ReceiptName
	o.deleteAndWait("lagging")

	o.create("lagging", withApproved())
	o.eventually("lagging", 30*time.Second).Should(
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.PreviouslyPurchasedReason))
	g.Expect(conditionMessage(o.get("lagging"), pcv1alpha1.StalledCondition)).To(ContainSubstring(receipt))
	g.Expect(o.sim.Orders()).To(HaveLen(1))
	g.Expect(o.requests("Checkout")).To(Equal(1))
}

// Path 4: the upstream cart holds other content than the spec (a PUT whose status write was
// lost, a conflicting intent write, another manager's stale PUT). The operator reads the cart
// before the intent, PUTs it right, and buys only what the spec says.
func TestUpstreamCartIsVerifiedBeforeBuying(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("verify", withMaxTotal("100000"))
	o.eventually("verify", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))
	cartID := o.get("verify").Status.Cart.ID

	// Someone (a stale writer) puts 500 seats into the cart behind the operator's back.
	pc := directClient(t, o)
	_, err := pc.UpdateCart(t.Context(), testCustomer, cartID, &partnercenter.Cart{ID: cartID, LineItems: []partnercenter.CartLineItem{{
		CatalogItemID: testItemE5, Quantity: 500, BillingCycle: "monthly", TermDuration: "P1Y"}}})
	g.Expect(err).NotTo(HaveOccurred())
	puts := o.requests("UpdateCart")

	o.update("verify", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
	o.eventually("verify", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.requests("UpdateCart")).To(BeNumerically(">", puts), "the cart was PUT back to the spec")
	orders := o.sim.Orders()
	g.Expect(orders).To(HaveLen(1))
	order, err := pc.GetOrder(t.Context(), testCustomer, orders[0].OrderID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(order.LineItems).To(HaveLen(1))
	g.Expect(order.LineItems[0].Quantity).To(Equal(25), "only the approved 25 seats are bought")
}

// Paths 5 and 6: a success answer without orders or order errors, or one that cannot be read,
// may hide a purchase: the outcome is Unknown at once, the checkout is never repeated, and no
// success is recorded without an order.
func TestCheckoutAnswersThatSayNothingAreUnknown(t *testing.T) {
	for name, fault := range map[string]pcsim.CheckoutFault{
		"200 {}":             {EmptyCheckoutAnswer: pcsim.EmptyAnswerObject, AnswerStatus: http.StatusOK},
		"201 null":           {EmptyCheckoutAnswer: pcsim.EmptyAnswerNull},
		"non-numeric code":   {UndecodableCheckoutAnswer: pcsim.UndecodableErrorCode},
		"truncated document": {UndecodableCheckoutAnswer: pcsim.UndecodableTruncated},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			o := startOperator(t, withCheckoutFault(fault))
			o.create("mute", withApproved())
			o.eventually("mute", 30*time.Second).Should(
				haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutOutcomeUnknownReason))
			co := o.get("mute").Status.Checkout
			g.Expect(co.Outcome).To(Equal(pcv1alpha1.CheckoutUnknown))
			g.Expect(co.Message).To(ContainSubstring(o.sim.Orders()[0].OrderID))

			// A later reconcile (woken by an annotation it reports on) still makes no call.
			o.update("mute", func(c *pcv1alpha1.PartnerCart) {
				c.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: co.RequestID + "/not-sure"}
			})
			o.eventually("mute", 30*time.Second).Should(WithTransform(func(c *pcv1alpha1.PartnerCart) string {
				return conditionMessage(c, pcv1alpha1.StalledCondition)
			}, ContainSubstring("not-sure")))
			g.Expect(o.requests("Checkout")).To(Equal(1), "an unclear answer is never repeated")
		})
	}
}

// Path 7: a Retry-After given as a date a year ahead pauses the tenant for minutes, not a year.
func TestRetryAfterDateIsCapped(t *testing.T) {
	o := startOperator(t, operatorOptions{sim: pcsim.Options{Faults: pcsim.Faults{
		ThrottleRate: 1, RetryAfter: 365 * 24 * time.Hour, RetryAfterDate: true}}})
	o.create("throttled")
	o.eventually("throttled", 30*time.Second).Should(And(
		haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.ThrottledReason),
		WithTransform(func(c *pcv1alpha1.PartnerCart) string { return conditionMessage(c, pcv1alpha1.ReadyCondition) },
			ContainSubstring("retrying after "+partnercenter.MaxRetryAfter.String()))))
}

// Path 8: a cart with the longest valid name gets a valid receipt, so the purchase is recorded
// and the object can be deleted.
func TestReceiptOfTheLongestNames(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	// 253 characters; cut at 63 (a label) or at 170 (the receipt name, pcv1alpha1.ReceiptName) the name would end in
	// '.', which no label or ConfigMap name may.
	name := strings.Repeat("a", 62) + "." + strings.Repeat("b", 62) + "." + strings.Repeat("c", 43) + "." + strings.Repeat("d", 30) +
		"-" + strings.Repeat("e", 52)
	g.Expect(name).To(HaveLen(253))
	g.Expect(name[62]).To(Equal(byte('.')))
	g.Expect(name[169]).To(Equal(byte('.')))
	o.create(name, withApproved())
	o.eventually(name, 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	receipt := o.get(name).Status.ReceiptName
	g.Expect(receipt).NotTo(BeEmpty())
	o.deleteAndWait(name)
	cm := &corev1.ConfigMap{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: o.receiptNS, Name: receipt}, cm)).To(Succeed())
	g.Expect(cm.Labels[pcv1alpha1.ReceiptCartLabel]).To(Equal(cartLabelValue(name)))

	// And the re-purchase guard finds it by label.
	o.create(name, withApproved())
	o.eventually(name, 30*time.Second).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.PreviouslyPurchasedReason))
}

// Path 9: a shutdown (SIGTERM, a lost lease) during a checkout lets the call finish and records
// its result before the manager returns; nothing waits for a restart.
func TestShutdownDuringCheckoutRecordsTheResult(t *testing.T) {
	g := NewWithT(t)
	gate := newCheckoutGate()
	o := startOperator(t, operatorOptions{middleware: gate.middleware})
	o.create("sigterm", withApproved())
	g.Eventually(gate.arrived).WithTimeout(30 * time.Second).Should(BeClosed())

	o.stop() // the shutdown begins with the call in flight...
	gate.decide <- forwardCall
	<-o.done // ...and ends after it was recorded
	o.stop, o.kill = nil, nil

	cart := o.get("sigterm")
	g.Expect(cart.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
	g.Expect(cart.Status.Orders).To(HaveLen(1))
	g.Expect(cart.Status.ReceiptName).NotTo(BeEmpty())
	g.Expect(receiptsIn(t, o.receiptNS)).To(HaveLen(1))
}

// Path 10: a checkout that keeps answering 404 for fresh carts is re-created a bounded number
// of times, backing off, and then waits for a person: no cart-and-checkout every second.
func TestCheckoutNotFoundForeverIsBounded(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, withCheckoutFault(pcsim.CheckoutFault{CheckoutNotFound: true}))
	o.create("vanishing", withApproved())
	o.eventually("vanishing", 60*time.Second).Should(
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutFailedReason))
	cart := o.get("vanishing")
	g.Expect(cart.Status.CheckoutHistory).To(HaveLen(maxRefusalsPerGeneration))
	g.Expect(o.requests("Checkout")).To(Equal(maxRefusalsPerGeneration))
	g.Expect(o.sim.Stats().CartsCreated).To(Equal(maxRefusalsPerGeneration))
	g.Expect(o.sim.Orders()).To(BeEmpty())
}

// Path 3, without receipts: a cluster rebuilt from Git (or a namespace re-created) has lost
// the receipts too. The customer's recent orders then show the purchase, and the new object
// stops unless a person names the order.
func TestRebuiltClusterDoesNotBuyAgain(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("rebuilt", withApproved())
	o.eventually("rebuilt", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	o.deleteAndWait("rebuilt")
	for _, cm := range receiptsIn(t, o.receiptNS) { // the receipts went with the old cluster
		g.Expect(env.Client.Delete(t.Context(), &cm)).To(Succeed())
	}
	orderID := o.sim.Orders()[0].OrderID

	o.create("rebuilt", withApproved())
	o.eventually("rebuilt", 30*time.Second).Should(
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.IdenticalRecentPurchaseReason))
	g.Expect(conditionMessage(o.get("rebuilt"), pcv1alpha1.StalledCondition)).To(ContainSubstring(orderID))
	g.Expect(o.sim.Orders()).To(HaveLen(1))

	// Another cart of the same customer with other content is not held back.
	o.create("other", withApproved(), func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 3 })
	o.eventually("other", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))

	o.update("rebuilt", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.RepurchaseOfAnnotation: orderID}
	})
	o.eventually("rebuilt", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.sim.Orders()).To(HaveLen(3))
}

// TestCartBeingProcessedIsNeverARefusal: 409 800064 ("the cart is being processed by another
// request") says a checkout of this cart is running, so it is never read as "nothing was
// bought": the same call is repeated with the same request ID, and the cart is bought once.
func TestCartBeingProcessedIsNeverARefusal(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, withCheckoutFault(pcsim.CheckoutFault{RefuseFirstCheckout: &pcsim.CheckoutRefusal{
		Status: http.StatusConflict, Code: 800064}})) // partnercenter.CodeCartBeingProcessed
	o.create("busy", withApproved())
	o.eventually("busy", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	cart := o.get("busy")
	g.Expect(cart.Status.CheckoutHistory).To(BeEmpty(), "no refusal was recorded")
	g.Expect(cart.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
	g.Expect(cart.Status.Checkout.Intent).To(Equal(int32(1)), "the first intent, repeated, not a new one")
	g.Expect(o.requests("Checkout")).To(BeNumerically(">=", 2))
	stats := o.sim.Stats()
	g.Expect(stats.OrdersPerCart).To(Equal(map[string]int{cart.Status.Checkout.CartID: 1}))
	g.Expect(stats.DuplicateCheckouts).To(BeZero())
}

// restoreFromBackup replaces the cart with a copy of backup as a Velero restore with status
// (restoreStatus) does after the cluster was lost: the old object goes without its finalizer
// running, and a new object (a new UID) is created with backup's spec, labels and annotations,
// then its status is written from the backup. The manager is down meanwhile, as it is while a
// cluster is rebuilt.
func restoreFromBackup(t *testing.T, o *operator, backup *pcv1alpha1.PartnerCart) *pcv1alpha1.PartnerCart {
	t.Helper()
	loseObject(t, o, backup.Name)
	restored := veleroCreate(t, backup)
	NewWithT(t).Expect(veleroRestoreStatus(t.Context(), restored, backup)).To(Succeed())
	return restored
}

// loseObject removes a cart without its finalizer running, as losing the cluster does.
func loseObject(t *testing.T, o *operator, name string) {
	t.Helper()
	g := NewWithT(t)
	old := o.get(name)
	old.Finalizers = nil
	g.Expect(env.Client.Update(t.Context(), old)).To(Succeed())
	g.Expect(client.IgnoreNotFound(env.Client.Delete(t.Context(), old))).To(Succeed())
	o.waitGone(name)
}

// veleroCreate is the first half of a Velero restore: a new object with backup's metadata
// (Velero keeps labels, annotations and finalizers), its spec, and no status.
func veleroCreate(t *testing.T, backup *pcv1alpha1.PartnerCart) *pcv1alpha1.PartnerCart {
	t.Helper()
	g := NewWithT(t)
	restored := &pcv1alpha1.PartnerCart{ObjectMeta: metav1.ObjectMeta{Namespace: backup.Namespace, Name: backup.Name,
		Labels: backup.Labels, Annotations: backup.Annotations, Finalizers: backup.Finalizers}, Spec: *backup.Spec.DeepCopy()}
	g.Expect(env.Client.Create(t.Context(), restored)).To(Succeed())
	g.Expect(restored.UID).NotTo(Equal(backup.UID))
	return restored
}

// veleroRestoreStatus is the second half: one status update from the backup, carrying the
// resourceVersion the create returned. Velero makes it once and only warns when it fails.
func veleroRestoreStatus(ctx context.Context, restored, backup *pcv1alpha1.PartnerCart) error {
	restored = restored.DeepCopy()
	restored.Status = *backup.Status.DeepCopy()
	return env.Client.Status().Update(ctx, restored)
}

// midCheckoutBackups are backups taken while a checkout was in flight, named, with whether
// Partner Center then committed that checkout.
var midCheckoutBackups = map[string]bool{
	"backup mid-checkout, Partner Center committed it":   true,
	"backup mid-checkout, the checkout never reached it": false,
}

// backupMidCheckout stops the manager with a checkout in flight (see crashMidCheckout) and
// returns a backup of the object then: its intent, outcome Pending.
func backupMidCheckout(t *testing.T, name string, commit bool) (*operator, *pcv1alpha1.CheckoutStatus, *pcv1alpha1.PartnerCart) {
	t.Helper()
	o, intent := crashMidCheckout(t, name, commit)
	backup := o.get(name)
	NewWithT(t).Expect(backup.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutPending))
	return o, intent, backup
}

// A Velero restore with status brings back a record the operator wrote, on a new object. A
// backup taken while a checkout was in flight holds its intent (outcome Pending): the restored
// object must settle that intent with its own request ID, as a restarted manager does, and buy
// nothing more whether or not Partner Center committed the checkout. A backup taken after the
// purchase holds its orders: the restored object is Completed and nothing is bought.
func TestVeleroRestoreWithStatusDoesNotBuyAgain(t *testing.T) {
	for name, committed := range midCheckoutBackups {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			o, intent, backup := backupMidCheckout(t, "restored", committed)
			restoreFromBackup(t, o, backup)
			o.start()

			o.eventually("restored", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
			cart := o.get("restored")
			g.Expect(cart.Status.Checkout.RequestID).To(Equal(intent.RequestID), "the restored intent is repeated, not replaced")
			stats := o.sim.Stats()
			g.Expect(stats.OrdersPerCart).To(Equal(map[string]int{intent.CartID: 1}))
			g.Expect(stats.CartsCreated).To(Equal(1), "no new cart is bought")
			g.Expect(stats.DuplicateCheckouts).To(BeZero())
			g.Expect(cart.Status.Orders).To(HaveLen(1))
			g.Expect(cart.Status.Orders[0].ID).To(Equal(o.sim.Orders()[0].OrderID))
			receipts := receiptsIn(t, o.receiptNS)
			g.Expect(receipts).To(HaveLen(1), "the purchase is recorded once")
			g.Expect(receipts[0].Data["orderIds"]).To(Equal(o.sim.Orders()[0].OrderID))
		})
	}

	t.Run("backup after the purchase", func(t *testing.T) {
		g := NewWithT(t)
		o := startOperator(t, operatorOptions{})
		o.create("restored", withApproved())
		o.eventually("restored", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
		backup := o.get("restored")
		o.shutdown()
		restoreFromBackup(t, o, backup)
		o.start()

		// The restarted manager works (another cart goes through) and, once it has looked at
		// the restored one, has left it as it was: Completed with its orders, nothing bought again.
		o.create("other", withApproved(), func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 3 })
		o.eventually("other", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
		o.reconciledSinceStart("restored")
		g.Consistently(func() int { return len(o.sim.Orders()) }).WithTimeout(2 * time.Second).Should(Equal(2))
		g.Expect(o.requests("Checkout")).To(Equal(2))
		restored := o.get("restored")
		g.Expect(restored.Status.Phase).To(Equal(pcv1alpha1.PhaseCompleted))
		g.Expect(restored.Status.Orders).To(Equal(backup.Status.Orders))
	})
}

// Velero writes a restored object's status once, with the resourceVersion its create
// returned. With the manager running, the manager may write first: Velero's update then
// conflicts, and the object goes on with an empty status, like one re-applied from Git. A
// backup taken mid-checkout must not buy twice that way either: a checkout Partner Center
// committed is found among the customer's orders (IdenticalRecentPurchase), and one that never
// reached it is bought once, on a new cart.
func TestVeleroStatusRestoreLosingToARunningManager(t *testing.T) {
	for name, committed := range midCheckoutBackups {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			o, intent, backup := backupMidCheckout(t, "restored", committed)
			if committed {
				g.Eventually(func() int { return o.sim.Stats().OrdersCreated }).Should(Equal(1))
			}
			loseObject(t, o, "restored")
			o.start()
			restored := veleroCreate(t, backup)
			// The manager wins the race: its first status write lands before Velero's.
			o.eventually("restored", 30*time.Second).Should(Satisfy(func(c *pcv1alpha1.PartnerCart) bool {
				return c.Status.Phase != ""
			}))
			err := veleroRestoreStatus(t.Context(), restored, backup)
			g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "Velero's status update must lose to the manager's write, got %v", err)

			if committed {
				o.eventually("restored", 30*time.Second).Should(
					haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.IdenticalRecentPurchaseReason))
				g.Expect(conditionMessage(o.get("restored"), pcv1alpha1.StalledCondition)).To(ContainSubstring(o.sim.Orders()[0].OrderID))
				g.Expect(o.sim.Orders()).To(HaveLen(1))
				g.Expect(o.requests("Checkout")).To(Equal(1), "only the checkout in flight at the backup")
				return
			}
			o.eventually("restored", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
			cart := o.get("restored")
			g.Expect(cart.Status.Checkout.RequestID).NotTo(Equal(intent.RequestID), "a new intent of the new object")
			stats := o.sim.Stats()
			g.Expect(stats.OrdersPerCart).To(Equal(map[string]int{cart.Status.Checkout.CartID: 1}), "the backup's cart is never bought")
			g.Expect(stats.DuplicateCheckouts).To(BeZero())
			g.Expect(receiptsIn(t, o.receiptNS)).To(HaveLen(1))
		})
	}
}
