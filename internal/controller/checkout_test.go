package controller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// checkoutGate holds the first checkout request at the door of pcsim until the test decides
// what happens to it (decide); every later request goes straight through.
type checkoutGate struct {
	once    sync.Once
	arrived chan struct{}
	decide  chan gateDecision
}

// gateDecision is what the held checkout request becomes.
type gateDecision int

const (
	// forwardCall: pcsim processes it and its answer reaches the operator.
	forwardCall gateDecision = iota
	// commitAndLoseAnswer: pcsim processes it (on a context the operator cannot cancel) and the
	// operator gets a 503, as when a connection drops after Partner Center committed.
	commitAndLoseAnswer
	// dropCall: pcsim never sees it; the operator gets a 503.
	dropCall
)

func newCheckoutGate() *checkoutGate {
	return &checkoutGate{arrived: make(chan struct{}), decide: make(chan gateDecision, 1)}
}

func (g *checkoutGate) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		decision := forwardCall
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/checkout") {
			g.once.Do(func() {
				close(g.arrived)
				decision = <-g.decide
			})
		}
		switch decision {
		case commitAndLoseAnswer:
			next.ServeHTTP(httptest.NewRecorder(), r.Clone(context.Background()))
			fallthrough
		case dropCall:
			http.Error(w, "connection lost", http.StatusServiceUnavailable)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// crashMidCheckout starts an operator whose first checkout is held at pcsim's door, waits
// until it is, checks the intent was persisted before the call, and stops the manager with
// the call in flight. commit says whether Partner Center then commits that checkout.
func crashMidCheckout(t *testing.T, name string, commit bool) (*operator, *pcv1alpha1.CheckoutStatus) {
	t.Helper()
	g := NewWithT(t)
	gate := newCheckoutGate()
	// A clock the test can move on: a person's "nothing-bought" is weighed only once Partner
	// Center lists every order the call could have made.
	o := startOperator(t, operatorOptions{middleware: gate.middleware, clock: &testClock{}})
	o.create(name, withApproved())
	g.Eventually(gate.arrived).WithTimeout(30 * time.Second).Should(BeClosed())
	intent := o.get(name).Status.Checkout
	g.Expect(intent).NotTo(BeNil(), "the intent must be persisted before the checkout call")
	g.Expect(intent.CompletedAt).To(BeNil())
	o.shutdown() // the manager dies while the checkout is in flight
	if commit {
		gate.decide <- commitAndLoseAnswer
	} else {
		gate.decide <- dropCall
	}
	return o, intent
}

// unknownAfterCrash is crashMidCheckout with the call never reaching Partner Center and the
// cart gone upstream when the manager comes back: nobody can tell whether it was bought, so
// the restarted manager stops for a person (CheckoutOutcomeUnknown). It returns once it has.
func unknownAfterCrash(t *testing.T, name string) (*operator, *pcv1alpha1.CheckoutStatus) {
	t.Helper()
	o, intent := crashMidCheckout(t, name, false)
	NewWithT(t).Expect(o.sim.ExpireCart(intent.CartID)).To(BeTrue())
	o.start()
	o.eventually(name, 30*time.Second).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutOutcomeUnknownReason))
	return o, intent
}

// TestCheckoutCrashAfterCommitIsRecoveredWithoutBuyingTwice: the manager persists its intent,
// sends the checkout, and is stopped before the answer arrives; Partner Center commits the
// purchase anyway. The restarted manager re-observes the cart, repeats the checkout of the
// same cart with the same MS-RequestId, and records the one order set.
func TestCheckoutCrashAfterCommitIsRecoveredWithoutBuyingTwice(t *testing.T) {
	g := NewWithT(t)
	o, intent := crashMidCheckout(t, "crash", true) // ...and Partner Center commits it
	g.Eventually(func() int { return o.sim.Stats().OrdersCreated }).Should(Equal(1))
	o.start()

	o.eventually("crash", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	cart := o.get("crash")
	g.Expect(cart.Status.Checkout.RequestID).To(Equal(intent.RequestID))
	g.Expect(cart.Status.Checkout.CartID).To(Equal(intent.CartID))
	stats := o.sim.Stats()
	g.Expect(stats.DuplicateCheckouts).To(BeZero())
	g.Expect(stats.OrdersPerCart).To(Equal(map[string]int{intent.CartID: 1}))
	g.Expect(stats.CartsCreated).To(Equal(1), "recovery never checks out a different cart")
	g.Expect(cart.Status.Orders).To(HaveLen(1))
	g.Expect(cart.Status.Orders[0].ID).To(Equal(o.sim.Orders()[0].OrderID))
	g.Expect(o.requests("Checkout")).To(Equal(2), "one checkout whose answer was lost, and one repeat")
	g.Expect(stats.ReplayedRequests).To(Equal(1), "the repeat carries the same MS-RequestId and is answered with the first result")
}

// TestCheckoutCrashBeforeCallIsRecovered: the manager persists its intent and dies before the
// checkout reaches Partner Center. The restarted manager finds the cart still Active and
// checks it out with the same request ID.
func TestCheckoutCrashBeforeCallIsRecovered(t *testing.T) {
	g := NewWithT(t)
	o, intent := crashMidCheckout(t, "crash", false) // the request never reaches Partner Center
	g.Expect(o.sim.Stats().OrdersCreated).To(BeZero())
	o.start()

	o.eventually("crash", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	stats := o.sim.Stats()
	g.Expect(stats.DuplicateCheckouts).To(BeZero())
	g.Expect(stats.OrdersPerCart).To(Equal(map[string]int{intent.CartID: 1}))
	g.Expect(o.get("crash").Status.Checkout.RequestID).To(Equal(intent.RequestID))
}

// TestDroppedCheckoutResponseEndsWithOneOrderSet: Partner Center commits the checkout and
// the connection drops with no answer, on every attempt the fault allows.
func TestDroppedCheckoutResponseEndsWithOneOrderSet(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{})
	o.create("drop")
	o.eventually("drop", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))

	o.sim.SetFaults(pcsim.Faults{DropAfterCommitRate: 1})
	o.update("drop", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
	g.Eventually(func() int { return o.sim.Stats().OrdersCreated }).WithTimeout(30 * time.Second).Should(Equal(1))
	o.eventually("drop", 30*time.Second).Should(haveCondition(pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutInProgressReason))
	o.sim.SetFaults(pcsim.Faults{})

	o.eventually("drop", 60*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	stats := o.sim.Stats()
	g.Expect(stats.DuplicateCheckouts).To(BeZero())
	g.Expect(stats.OrdersCreated).To(Equal(1))
	g.Expect(stats.Faults["dropAfterCommit"]).To(BeNumerically(">=", 1))
	g.Expect(o.get("drop").Status.Orders).To(HaveLen(1))
}

// TestThrottlingAndServerErrorStormsStillComplete: with half the requests failing with 5xx
// and a third throttled, every cart still ends Completed and buys exactly once.
func TestThrottlingAndServerErrorStormsStillComplete(t *testing.T) {
	g := NewWithT(t)
	o := startOperator(t, operatorOptions{sim: pcsim.Options{Seed: 7,
		Faults: pcsim.Faults{FailRate: 0.5, ThrottleRate: 0.3, RetryAfter: time.Second}}})
	names := []string{"storm-a", "storm-b", "storm-c"}
	for _, n := range names {
		o.create(n, withApproved())
	}
	for _, n := range names {
		o.eventually(n, 90*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	}
	stats := o.sim.Stats()
	g.Expect(stats.DuplicateCheckouts).To(BeZero())
	g.Expect(stats.OrdersCreated).To(Equal(len(names)))
	g.Expect(stats.Faults["fail"]).To(BeNumerically(">", 0))
	g.Expect(stats.Faults["throttle"]).To(BeNumerically(">", 0))
}

// TestDeletion covers the three moments a PartnerCart can be deleted.
func TestDeletion(t *testing.T) {
	t.Run("before checkout the object goes and nothing is bought", func(t *testing.T) {
		g := NewWithT(t)
		o := startOperator(t, operatorOptions{})
		o.create("early")
		o.eventually("early", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseAwaitingApproval))
		o.deleteAndWait("early")
		g.Expect(o.requests("Checkout")).To(BeZero())
	})

	t.Run("during checkout deletion waits for the outcome and keeps the receipt", func(t *testing.T) {
		g := NewWithT(t)
		gate := newCheckoutGate()
		o := startOperator(t, operatorOptions{middleware: gate.middleware})
		o.create("midway", withApproved())
		g.Eventually(gate.arrived).WithTimeout(30 * time.Second).Should(BeClosed())
		g.Expect(env.Client.Delete(t.Context(), o.get("midway"))).To(Succeed())
		g.Consistently(func() error {
			return env.Client.Get(t.Context(), client.ObjectKey{Namespace: o.ns, Name: "midway"}, &pcv1alpha1.PartnerCart{})
		}).WithTimeout(time.Second).Should(Succeed(), "the object must stay while the checkout is in flight")
		gate.decide <- forwardCall
		o.waitGone("midway")
		receipts := receiptsIn(t, o.receiptNS)
		g.Expect(receipts).To(HaveLen(1))
		g.Expect(receipts[0].Data["orderIds"]).To(Equal(o.sim.Orders()[0].OrderID))
		g.Expect(o.sim.Stats().DuplicateCheckouts).To(BeZero())
	})

	t.Run("after checkout the object goes, orphaning the subscriptions, and the receipt stays", func(t *testing.T) {
		g := NewWithT(t)
		o := startOperator(t, operatorOptions{})
		o.create("late", withApproved())
		o.eventually("late", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
		receipt := o.get("late").Status.ReceiptName
		o.deleteAndWait("late")
		cm := &corev1.ConfigMap{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: o.receiptNS, Name: receipt}, cm)).To(Succeed())
		g.Expect(cm.Data["orderIds"]).To(Equal(o.sim.Orders()[0].OrderID))
		g.Eventually(func() []string { return o.events("late") }).Should(ContainElement(pcv1alpha1.EventOrphaned))
	})

	t.Run("after a partly failed checkout the object goes and the receipt records both halves", func(t *testing.T) {
		g := NewWithT(t)
		o := startOperator(t, operatorOptions{})
		o.create("partly", withApproved(), func(c *pcv1alpha1.PartnerCart) {
			c.Spec.LineItems = append(c.Spec.LineItems, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
				ID: 1, CatalogItemID: "CFQ7TTC0LF8S:0001:CFQ7TTC0FAIL", Quantity: 1, // its order group fails at checkout
				BillingCycle: pcv1alpha1.BillingCycleAnnual, TermDuration: "P1Y"}})
		})
		o.eventually("partly", 30*time.Second).Should(
			haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutPartiallyFailedReason))
		cart := o.get("partly")
		g.Expect(cart.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutPartiallySucceeded))
		o.deleteAndWait("partly")

		receipts := receiptsIn(t, o.receiptNS)
		g.Expect(receipts).To(HaveLen(1))
		g.Expect(receipts[0].Name).To(Equal(cart.Status.ReceiptName))
		g.Expect(receipts[0].Data["orderIds"]).To(Equal(o.sim.Orders()[0].OrderID))
		rec, err := decodeReceipt(&receipts[0])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rec.Orders).To(HaveLen(1))
		g.Expect(rec.OrderErrors).To(Equal(cart.Status.OrderErrors), "what was not bought is on the record too")
		g.Expect(o.requests("Checkout")).To(Equal(1), "deleting never checks out the rest")
		g.Expect(o.sim.Orders()).To(HaveLen(1))
	})
}

func receiptsIn(t *testing.T, ns string) []corev1.ConfigMap {
	t.Helper()
	list := &corev1.ConfigMapList{}
	NewWithT(t).Expect(env.Client.List(t.Context(), list, client.InNamespace(ns), client.MatchingLabels{pcv1alpha1.ReceiptLabel: "true"})).To(Succeed())
	return list.Items
}

// TestCheckoutOutcomeUnknownStopsForAPerson: the manager dies with a checkout in flight and the
// cart is gone upstream when it comes back, so nobody can tell whether it was bought. The
// operator stops with CheckoutOutcomeUnknown, never checks out again, and keeps the object
// (and its record of the intent) until a person decides.
func TestCheckoutOutcomeUnknownStopsForAPerson(t *testing.T) {
	g := NewWithT(t)
	o, intent := unknownAfterCrash(t, "lost")
	g.Expect(o.get("lost")).To(haveCondition(pcv1alpha1.CheckedOutCondition, metav1.ConditionUnknown, pcv1alpha1.CheckoutOutcomeUnknownReason))
	cart := o.get("lost")
	msg := conditionMessage(cart, pcv1alpha1.StalledCondition)
	g.Expect(msg).To(ContainSubstring(intent.CartID))
	g.Expect(msg).To(ContainSubstring(intent.RequestID))
	g.Expect(msg).To(ContainSubstring(testCustomer))
	g.Expect(cart.Status.Checkout.CartID).To(Equal(intent.CartID), "the intent is kept")
	calls := o.sim.Stats().Requests
	g.Consistently(func() any { return o.sim.Stats().Requests }).WithTimeout(time.Second).Should(Equal(calls), "no retries, no new cart")
	g.Expect(o.sim.Stats().CartsCreated).To(Equal(1))

	// Deleting it does not lose the record: the finalizer stays until a person removes it.
	g.Expect(env.Client.Delete(t.Context(), cart)).To(Succeed())
	o.eventually("lost", 30*time.Second).Should(haveCondition(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.DeletionBlockedReason))
	g.Consistently(func() error {
		return env.Client.Get(t.Context(), client.ObjectKey{Namespace: o.ns, Name: "lost"}, &pcv1alpha1.PartnerCart{})
	}).WithTimeout(2 * time.Second).Should(Succeed())
	g.Eventually(func() []string { return o.events("lost") }).Should(ContainElement(pcv1alpha1.EventCheckoutUnknown))

	// A person looks in Partner Center once it lists every order the call could have made,
	// finds nothing, and says so: the object goes, and a receipt keeps the intent and their word.
	o.opts.clock.(*testClock).Skip(orderListingDelay + DefaultCheckoutTimeout)
	o.update("lost", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: intent.RequestID + "/nothing-bought"}
	})
	o.waitGone("lost")
	receipts := receiptsIn(t, o.receiptNS)
	g.Expect(receipts).To(HaveLen(1))
	g.Expect(receipts[0].Data).To(HaveKeyWithValue("resolution", intent.RequestID+"/nothing-bought"))
	g.Expect(receipts[0].Data).To(HaveKeyWithValue("cartId", intent.CartID))
	g.Expect(o.sim.Stats().Requests["Checkout"]).To(Equal(calls["Checkout"]), "resolving never checks out")
}

// TestCheckoutAbandonedStaysAbandoned: once a person recorded that an unknown checkout bought
// nothing, later reconciles keep saying so (they must not turn it into a refusal by Partner Center).
func TestCheckoutAbandonedStaysAbandoned(t *testing.T) {
	g := NewWithT(t)
	o, intent := unknownAfterCrash(t, "abandoned")
	o.opts.clock.(*testClock).Skip(orderListingDelay + DefaultCheckoutTimeout)
	o.update("abandoned", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: intent.RequestID + "/nothing-bought"}
	})
	o.eventually("abandoned", 30*time.Second).Should(haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutAbandonedReason))

	// Another reconcile (an annotation edit wakes one) keeps the person's outcome.
	o.touch("abandoned", func(c *pcv1alpha1.PartnerCart) { c.Annotations["note"] = "checked by finance" })
	g.Consistently(func() string {
		return conditionReason(o.get("abandoned"), pcv1alpha1.StalledCondition)
	}).WithTimeout(2 * time.Second).Should(Equal(pcv1alpha1.CheckoutAbandonedReason))
	g.Expect(o.get("abandoned").Status.Phase).To(Equal(pcv1alpha1.PhaseFailed))
}

// TestCheckoutOutcomeResolvedWithOrders: a person finds the orders an unknown checkout created
// and names them; the operator verifies they exist for the customer, records them as the
// purchase, writes the receipt and tracks them to completion, without any checkout call.
func TestCheckoutOutcomeResolvedWithOrders(t *testing.T) {
	g := NewWithT(t)
	o, intent := unknownAfterCrash(t, "found")

	// An order that does not exist is refused, and the cart stays unknown.
	o.update("found", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: intent.RequestID + "/orders=no-such-order"}
	})
	o.eventually("found", 30*time.Second).Should(WithTransform(func(c *pcv1alpha1.PartnerCart) string {
		return conditionMessage(c, pcv1alpha1.StalledCondition)
	}, ContainSubstring("Order no-such-order")))

	// The order the person found (bought elsewhere for this customer, here straight from pcsim).
	orderID := buyDirectly(t, o)
	checkouts := o.requests("Checkout")
	o.update("found", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{pcv1alpha1.CheckoutResolutionAnnotation: intent.RequestID + "/orders=" + orderID}
	})
	o.eventually("found", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseCompleted),
		haveCondition(pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutResolvedReason)))
	cart := o.get("found")
	g.Expect(cart.Status.Orders).To(HaveLen(1))
	g.Expect(cart.Status.Orders[0].ID).To(Equal(orderID))
	g.Expect(cart.Status.Checkout.Resolution).To(Equal(intent.RequestID + "/orders=" + orderID))
	g.Expect(cart.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutResolved))
	g.Expect(cart.Status.Checkout.CartID).To(Equal(intent.CartID))
	g.Expect(o.requests("Checkout")).To(Equal(checkouts), "resolving never checks out")
	receipts := receiptsIn(t, o.receiptNS)
	g.Expect(receipts).To(HaveLen(1))
	g.Expect(receipts[0].Data).To(HaveKeyWithValue("orderIds", orderID))
}

// buyDirectly buys one E5 seat for the test customer straight from pcsim, as if through the
// Partner Center portal, and returns the order ID.
func buyDirectly(t *testing.T, o *operator) string {
	t.Helper()
	g := NewWithT(t)
	pc := directClient(t, o)
	created, err := pc.CreateCart(t.Context(), testCustomer, &partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{
		CatalogItemID: testItemE5, Quantity: 1, BillingCycle: "monthly", TermDuration: "P1Y"}}}, "portal-create")
	g.Expect(err).NotTo(HaveOccurred())
	result, err := pc.Checkout(t.Context(), testCustomer, created.ID, "portal-checkout")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.Orders).To(HaveLen(1))
	return result.Orders[0].ID
}
