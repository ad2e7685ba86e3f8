package controller

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

// cancelNow is the clock of the cancellation tests: the purchase was two days before.
var cancelNow = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// cartToCancel is a cart whose checkout bought two lines (ids 0 and 1) in order o-1, creating
// subscriptions sub-0 and sub-1, with its cancellation requested by a tenant.
func cartToCancel(uid types.UID, cancellation pcv1alpha1.Cancellation) *pcv1alpha1.PartnerCart {
	cart := syncedApprovedCart(uid)
	cart.Spec.LineItems = append(cart.Spec.LineItems, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
		ID: 1, CatalogItemID: "CFQ7TTC0LH18:0001:CFQ7TTC0K59S", Quantity: 3, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1M"}})
	bought := metav1.NewTime(cancelNow.Add(-48 * time.Hour))
	cart.Status.Checkout = pendingIntent(cart, bought.Time)
	cart.Status.Checkout.Outcome, cart.Status.Checkout.CompletedAt = pcv1alpha1.CheckoutSucceeded, &bought
	cart.Status.Orders = []pcv1alpha1.OrderStatus{{ID: "o-1", Status: "completed", CurrencyCode: "EUR", TotalPrice: "1003.00", BillingCycle: "monthly",
		LineItems: []pcv1alpha1.OrderLineItemStatus{
			{LineItemNumber: 0, OfferID: testItemE5, SubscriptionID: "sub-0", Quantity: 25, TermDuration: "P1Y", Price: "38.00"},
			{LineItemNumber: 1, OfferID: "CFQ7TTC0LH18:0001:CFQ7TTC0K59S", SubscriptionID: "sub-1", Quantity: 3, TermDuration: "P1M", Price: "17.66"},
		}}}
	cart.Status.ReceiptName = receiptName(cart)
	cart.Spec.Cancellation = &cancellation
	return cart
}

// requested is a cancellation request as admission stamps it, approved or not.
func requested(approved bool, lines ...int32) pcv1alpha1.Cancellation {
	c := pcv1alpha1.Cancellation{Requested: true, LineItems: lines, Reason: "bought for the wrong tenant",
		RequestedBy: "tenant@example.com", RequestedAt: "2026-12-05T09:00:00Z"}
	if approved {
		c.Approved, c.ApprovedBy, c.ApprovedAt = true, "approver@example.com", "2026-12-05T09:30:00Z"
	}
	return c
}

// subscriptionsOf are the subscriptions Partner Center holds for boughtCart's order: active,
// cancellable until 120 hours after the purchase, with a full refund for its first 24 hours
// (that is, until 2026-12-04 10:00, already passed) and a partial one after.
func subscriptionsOf(orderID string) []partnercenter.Subscription {
	bought := cancelNow.Add(-48 * time.Hour)
	sub := func(id string) partnercenter.Subscription {
		return partnercenter.Subscription{ID: id, OrderID: orderID, Status: partnercenter.SubscriptionActive,
			CancellationAllowedUntilDate: bought.Add(168 * time.Hour).Format(time.RFC3339),
			RefundOptions: []partnercenter.RefundOption{
				{Type: partnercenter.RefundFull, ExpiresAt: bought.Add(72 * time.Hour).Format(time.RFC3339)},
				{Type: partnercenter.RefundPartial, ExpiresAt: bought.Add(168 * time.Hour).Format(time.RFC3339)}}}
	}
	return []partnercenter.Subscription{sub("sub-0"), sub("sub-1")}
}

// reconcileUntilSettled reconciles until a reconcile asks for nothing soon (at most n times).
func reconcileUntilSettled(t *testing.T, r *PartnerCartReconciler, cart *pcv1alpha1.PartnerCart, n int) {
	t.Helper()
	for range n {
		res, err := r.Reconcile(t.Context(), reconcileRequest(cart))
		if err == nil && (res.RequeueAfter == 0 || res.RequeueAfter > time.Second) {
			return
		}
	}
}

func cancelledCondition(c *pcv1alpha1.PartnerCart) *metav1.Condition {
	return meta.FindStatusCondition(c.Status.Conditions, pcv1alpha1.CancelledCondition)
}

func TestCancellationWaitsForAnApproverAndShowsTheWindow(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000001", requested(false))
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)

	reconcileUntilSettled(t, r, cart, 3)
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(BeZero(), "nothing is cancelled before an approver approves")
	g.Expect(got.Status.Phase).To(Equal(pcv1alpha1.PhaseCompleted), "the purchase stands while the request waits")
	g.Expect(got.Status.CancellableUntil).NotTo(BeNil())
	g.Expect(got.Status.CancellableUntil.Time).To(BeTemporally("==", cancelNow.Add(120*time.Hour)))
	cond := cancelledCondition(got)
	g.Expect(cond).NotTo(BeNil())
	g.Expect(cond.Reason).To(Equal(pcv1alpha1.CancellationAwaitingApprovalReason))
	g.Expect(cond.Message).To(And(ContainSubstring("cancellable until 2026-12-10T10:00:00Z (in 120h0m0s)"),
		ContainSubstring("sub-0, sub-1"), ContainSubstring("tenant@example.com"), ContainSubstring("kubectl partnercart approve --cancellation c")))
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, pcv1alpha1.ReadyCondition).Reason).To(Equal(pcv1alpha1.CancellationAwaitingApprovalReason))
	g.Expect(got.Status.Cancellation).To(BeNil())

	reads := pc.Count(partnercenter.OpGetSubscription)
	reconcileUntilSettled(t, r, cart, 2)
	g.Expect(pc.Count(partnercenter.OpGetSubscription)).To(Equal(reads), "the window is read once, not on every reconcile")
}

func TestApprovedCancellationCancelsEachSubscriptionOnceAndRecordsIt(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000002", requested(true))
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
	cancelledBefore := testutil.ToFloat64(cancellationsTotal.WithLabelValues("cancelled", ""))

	reconcileUntilSettled(t, r, cart, 10)
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(Equal(2), "one call per subscription")
	for _, id := range []string{"sub-0", "sub-1"} {
		sub, _ := pc.Subscription(id)
		g.Expect(sub.IsCancelled()).To(BeTrue(), id)
	}
	g.Expect(got.Status.Phase).To(Equal(pcv1alpha1.PhaseCancelled))
	g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, pcv1alpha1.ReadyCondition)).To(BeTrue())
	g.Expect(cancelledCondition(got).Status).To(Equal(metav1.ConditionTrue))
	st := got.Status.Cancellation
	g.Expect(st.CompletedAt).NotTo(BeNil())
	g.Expect(st.ApprovedBy).To(Equal("approver@example.com"))
	g.Expect(st.Subscriptions).To(HaveLen(2))
	for _, s := range st.Subscriptions {
		g.Expect(s.Outcome).To(Equal(pcv1alpha1.CancellationCancelled))
		g.Expect(s.Attempts).To(Equal(int32(1)))
		g.Expect(s.RequestID).NotTo(BeEmpty())
		g.Expect(s.Refund).To(Equal(&pcv1alpha1.Refund{Type: partnercenter.RefundFull, Amount: map[string]string{"sub-0": "950.00", "sub-1": "52.98"}[s.SubscriptionID], Currency: "EUR"}))
	}
	g.Expect(*st.Subscriptions[1].LineItemID).To(Equal(int32(1)), "matched to the spec line it was bought for")

	receipt := &corev1.ConfigMap{}
	g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: unitReceiptNS, Name: st.ReceiptName}, receipt)).To(Succeed())
	g.Expect(*receipt.Immutable).To(BeTrue())
	g.Expect(receipt.Labels).NotTo(HaveKey(pcv1alpha1.ReceiptLabel), "not a purchase receipt: the re-purchase guard must not read it")
	g.Expect(receipt.Data).To(HaveKeyWithValue("cancelledSubscriptionIds", "sub-0,sub-1"))
	g.Expect(receipt.Data).To(HaveKeyWithValue("approvedBy", "approver@example.com"))
	g.Expect(receipt.Data["receipt.json"]).To(And(ContainSubstring(`"reason": "bought for the wrong tenant"`), ContainSubstring(`"amount": "950.00"`)))
	g.Expect(testutil.ToFloat64(cancellationsTotal.WithLabelValues("cancelled", ""))).To(Equal(cancelledBefore + 2))

	reconcileUntilSettled(t, r, cart, 3)
	g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(Equal(2), "a finished cancellation makes no call")
	g.Expect(testutil.ToFloat64(cancellationsTotal.WithLabelValues("cancelled", ""))).To(Equal(cancelledBefore+2), "counted once")
}

func TestCancellationOfChosenLinesOnly(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000003", requested(true, 1))
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
	reconcileUntilSettled(t, r, cart, 10)
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Cancellation.Subscriptions).To(HaveLen(1))
	g.Expect(got.Status.Cancellation.Subscriptions[0].SubscriptionID).To(Equal("sub-1"))
	sub0, _ := pc.Subscription("sub-0")
	g.Expect(sub0.IsCancelled()).To(BeFalse(), "a line not named is not cancelled")

	unknown := cartToCancel("9a1c0000-0000-4000-8000-000000000004", requested(true, 7))
	r, k8s, pc = unitReconciler(unknown, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
	reconcileUntilSettled(t, r, unknown, 3)
	got = storedCart(t, k8s, unknown)
	g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(BeZero())
	g.Expect(cancelledCondition(got).Reason).To(Equal(pcv1alpha1.CancellationInvalidReason))
	g.Expect(cancelledCondition(got).Message).To(ContainSubstring("line item 7"))
}

// TestLostCancellationAnswerIsReadBackNotRepeated: Partner Center cancels, and the answer is
// lost. The subscription is read before anything else is sent: it is cancelled, so no second
// call goes out, and the outcome is recorded as this cart's.
func TestLostCancellationAnswerIsReadBackNotRepeated(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000005", requested(true, 0))
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
	cancel := pc.CancelSubscriptionFn
	pc.CancelSubscriptionFn = func(ctx context.Context, customer string, sub *partnercenter.Subscription, requestID string) (*partnercenter.Subscription, error) {
		if _, err := cancel(ctx, customer, sub, requestID); err != nil {
			return nil, err
		}
		return nil, &partnercenter.TransportError{Operation: partnercenter.OpCancelSubscription, RequestID: requestID, Err: errors.New("connection reset")}
	}
	_, _ = r.Reconcile(t.Context(), reconcileRequest(cart))
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Cancellation.Subscriptions[0].Outcome).To(Equal(pcv1alpha1.CancellationPending))
	g.Expect(got.Status.Cancellation.Subscriptions[0].Attempts).To(Equal(int32(1)), "the attempt was persisted before the call")
	g.Expect(got.Status.Phase).To(Equal(pcv1alpha1.PhaseCancelling))

	reconcileUntilSettled(t, r, cart, 5)
	got = storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(Equal(1), "the lost answer is read back, never repeated")
	g.Expect(got.Status.Cancellation.Subscriptions[0].Outcome).To(Equal(pcv1alpha1.CancellationCancelled))
	g.Expect(got.Status.Cancellation.Subscriptions[0].Message).To(ContainSubstring("by this cart's request"))
	g.Expect(got.Status.Phase).To(Equal(pcv1alpha1.PhaseCancelled))
}

// TestUnansweredCancellationIsRepeatedOnlyAfterAReadAndThenStops: answers lost without effect
// are repeated with the same MS-RequestId, each after a read shows the subscription active, at
// most maxCancelAttempts times; then the outcome is Unknown and no call is made again.
func TestUnansweredCancellationIsRepeatedOnlyAfterAReadAndThenStops(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000006", requested(true, 0))
	clk := clocktesting.NewFakePassiveClock(cancelNow)
	r, k8s, pc := unitReconciler(cart, clk, interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
	var ids []string
	pc.CancelSubscriptionFn = func(_ context.Context, _ string, _ *partnercenter.Subscription, requestID string) (*partnercenter.Subscription, error) {
		ids = append(ids, requestID)
		return nil, &partnercenter.APIError{Operation: partnercenter.OpCancelSubscription, StatusCode: http.StatusBadGateway}
	}
	for range 8 {
		_, _ = r.Reconcile(t.Context(), reconcileRequest(cart))
	}
	got := storedCart(t, k8s, cart)
	g.Expect(ids).To(HaveLen(maxCancelAttempts))
	g.Expect(ids).To(HaveEach(ids[0]), "one MS-RequestId for every call of the subscription")
	g.Expect(got.Status.Cancellation.Subscriptions[0].Outcome).To(Equal(pcv1alpha1.CancellationUnknown))
	g.Expect(pc.Count(partnercenter.OpGetSubscription)).To(BeNumerically(">", maxCancelAttempts), "every call was preceded by a read")
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, pcv1alpha1.ReadyCondition).Reason).To(Equal(pcv1alpha1.CancellationOutcomeUnknownReason))
}

func TestCancellationAfterTheWindowIsRefusedWithoutACall(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000007", requested(true))
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow.Add(121*time.Hour)), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
	reconcileUntilSettled(t, r, cart, 10)
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(BeZero(), "no call once the window has closed")
	g.Expect(got.Status.Phase).To(Equal(pcv1alpha1.PhaseCompleted), "nothing was cancelled: the purchase stands")
	stalled := meta.FindStatusCondition(got.Status.Conditions, pcv1alpha1.StalledCondition)
	g.Expect(stalled).NotTo(BeNil())
	g.Expect(stalled.Reason).To(Equal(pcv1alpha1.CancellationRefusedReason))
	g.Expect(stalled.Message).To(ContainSubstring("window closed at 2026-12-10T10:00:00Z"))
	for _, s := range got.Status.Cancellation.Subscriptions {
		g.Expect(s.Outcome).To(Equal(pcv1alpha1.CancellationRefused))
	}
}

func TestPartnerCentersRefusalIsRecordedWithItsCode(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000008", requested(true))
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
	cancel := pc.CancelSubscriptionFn
	pc.CancelSubscriptionFn = func(ctx context.Context, customer string, sub *partnercenter.Subscription, requestID string) (*partnercenter.Subscription, error) {
		if sub.ID == "sub-1" {
			return nil, &partnercenter.APIError{Operation: partnercenter.OpCancelSubscription, StatusCode: 400, Code: partnercenter.CodeCancellationWindowHours,
				Description: "You have passed your 168-hour cancellation window. We are unable to cancel your purchase"}
		}
		return cancel(ctx, customer, sub, requestID)
	}
	reconcileUntilSettled(t, r, cart, 10)
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Phase).To(Equal(pcv1alpha1.PhasePartiallyCancelled))
	s1 := got.Status.Cancellation.Subscriptions[1]
	g.Expect(s1.Outcome).To(Equal(pcv1alpha1.CancellationRefused))
	g.Expect(s1.Code).To(Equal("900213"))
	g.Expect(s1.Message).To(ContainSubstring("cancellation window"))
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, pcv1alpha1.StalledCondition).Reason).To(Equal(pcv1alpha1.CancellationPartiallyRefusedReason))
}

// TestOnlyThisCartsSubscriptionsAreCancelled: a subscription Partner Center says another order
// created is not cancelled, whatever status.orders says.
func TestOnlyThisCartsSubscriptionsAreCancelled(t *testing.T) {
	g := NewWithT(t)
	cart := cartToCancel("9a1c0000-0000-4000-8000-000000000009", requested(true, 0))
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pcfake.WithSubscriptions(subscriptionsOf("o-other")...)(pc)
	reconcileUntilSettled(t, r, cart, 10)
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(BeZero())
	g.Expect(got.Status.Cancellation.Subscriptions[0].Outcome).To(Equal(pcv1alpha1.CancellationRefused))
	g.Expect(got.Status.Cancellation.Subscriptions[0].Message).To(ContainSubstring("belongs to order o-other"))
}

// TestUnstampedCancellationApprovalIsNotTaken: an approval without the API server's stamps
// (or stamped in the future) cancels nothing.
func TestUnstampedCancellationApprovalIsNotTaken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		uid    types.UID
		change func(*pcv1alpha1.Cancellation)
	}{
		{"no stamps", "9a1c0000-0000-4000-8000-000000000011", func(c *pcv1alpha1.Cancellation) { c.ApprovedBy, c.ApprovedAt = "", "" }},
		{"stamped in the future", "9a1c0000-0000-4000-8000-000000000012", func(c *pcv1alpha1.Cancellation) { c.ApprovedAt = "2026-12-06T10:00:00Z" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			req := requested(true)
			tc.change(&req)
			cart := cartToCancel(tc.uid, req)
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
			pcfake.WithSubscriptions(subscriptionsOf("o-1")...)(pc)
			reconcileUntilSettled(t, r, cart, 3)
			got := storedCart(t, k8s, cart)
			g.Expect(pc.Count(partnercenter.OpCancelSubscription)).To(BeZero())
			g.Expect(got.Status.Cancellation).To(BeNil())
			g.Expect(cancelledCondition(got).Reason).To(Equal(pcv1alpha1.CancellationNotStampedReason))
		})
	}
}

// TestRequestedCancellationKeepsAnUnboughtCartFromBeingBought: someone asked to undo the
// purchase before it happened.
func TestRequestedCancellationKeepsAnUnboughtCartFromBeingBought(t *testing.T) {
	g := NewWithT(t)
	cart := syncedApprovedCart("9a1c0000-0000-4000-8000-000000000020")
	c := requested(false)
	cart.Spec.Cancellation = &c
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(cancelNow), interceptor.Funcs{}, Options{})
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "pending"}}}, nil
	}
	reconcileUntilSettled(t, r, cart, 3)
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
	g.Expect(got.Status.Checkout).To(BeNil())
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, pcv1alpha1.ApprovedCondition).Reason).To(Equal(pcv1alpha1.CancellationBlocksCheckoutReason))
	g.Expect(strings.Contains(meta.FindStatusCondition(got.Status.Conditions, pcv1alpha1.ReadyCondition).Message, "not bought")).To(BeTrue())
}
