package controller

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// TestSummarize walks every row of the state table (docs/api.md): from the checkout outcome
// and what the phases concluded to phase, Ready, Reconciling and Stalled; observedGeneration
// is stamped in every row, retries included (the conditions say why).
func TestSummarize(t *testing.T) {
	completed := metav1.Now()
	checkout := func(o pcv1alpha1.CheckoutOutcome) *pcv1alpha1.CheckoutStatus {
		co := &pcv1alpha1.CheckoutStatus{CartID: "c", RequestID: "r", Outcome: o}
		if o.Final() {
			co.CompletedAt = &completed
		}
		return co
	}
	order := []pcv1alpha1.OrderStatus{{ID: "o1", Status: "completed", TotalPrice: "10.00", CurrencyCode: "USD"}}
	type want struct {
		phase                pcv1alpha1.Phase
		ready                metav1.ConditionStatus
		readyReason          string
		reconciling, stalled bool
	}
	for name, tc := range map[string]struct {
		checkout *pcv1alpha1.CheckoutStatus
		orders   []pcv1alpha1.OrderStatus
		result   phaseResult
		want     want
	}{
		"syncing the cart": {
			want: want{pcv1alpha1.PhasePending, metav1.ConditionFalse, pcv1alpha1.ProgressingReason, true, false}},
		"upstream failing, retried": {result: retryOn(errors.New("503")),
			want: want{pcv1alpha1.PhasePending, metav1.ConditionFalse, pcv1alpha1.UpstreamUnavailableReason, true, false}},
		"throttled": {result: retryAfter(pcv1alpha1.ThrottledReason, "wait", time.Second),
			want: want{pcv1alpha1.PhasePending, metav1.ConditionFalse, pcv1alpha1.ThrottledReason, true, false}},
		"waiting for approval": {result: waitForPerson(pcv1alpha1.WaitingForApprovalReason, "approve", ""),
			want: want{pcv1alpha1.PhaseAwaitingApproval, metav1.ConditionFalse, pcv1alpha1.WaitingForApprovalReason, false, false}},
		"purchases frozen": {result: waitForPerson(pcv1alpha1.PurchaseFrozenReason, "frozen", ""),
			want: want{pcv1alpha1.PhaseAwaitingApproval, metav1.ConditionFalse, pcv1alpha1.PurchaseFrozenReason, false, false}},
		"line item errors": {result: stall(pcv1alpha1.LineItemErrorsReason, "fix"),
			want: want{pcv1alpha1.PhaseFailed, metav1.ConditionFalse, pcv1alpha1.LineItemErrorsReason, false, true}},
		"refused (history), waiting for a spec change": {result: stall(pcv1alpha1.CheckoutRefusedReason, "403"),
			want: want{pcv1alpha1.PhaseFailed, metav1.ConditionFalse, pcv1alpha1.CheckoutRefusedReason, false, true}},
		"previously purchased": {result: stall(pcv1alpha1.PreviouslyPurchasedReason, "receipt"),
			want: want{pcv1alpha1.PhaseFailed, metav1.ConditionFalse, pcv1alpha1.PreviouslyPurchasedReason, false, true}},
		"pending, call failed, retried": {checkout: checkout(pcv1alpha1.CheckoutPending), result: retryOn(errors.New("connection reset")),
			want: want{pcv1alpha1.PhaseCheckingOut, metav1.ConditionFalse, pcv1alpha1.UpstreamUnavailableReason, true, false}},
		"pending, another process owns the call": {checkout: checkout(pcv1alpha1.CheckoutPending),
			result: retryAfter(pcv1alpha1.CheckoutInProgressReason, "owner", time.Second),
			want:   want{pcv1alpha1.PhaseCheckingOut, metav1.ConditionFalse, pcv1alpha1.CheckoutInProgressReason, true, false}},
		"unknown: a person must look": {checkout: checkout(pcv1alpha1.CheckoutUnknown),
			result: stall(pcv1alpha1.CheckoutOutcomeUnknownReason, "look"),
			want:   want{pcv1alpha1.PhaseCheckingOut, metav1.ConditionFalse, pcv1alpha1.CheckoutOutcomeUnknownReason, false, true}},
		"unknown, being deleted": {checkout: checkout(pcv1alpha1.CheckoutUnknown),
			result: blocked(stall(pcv1alpha1.CheckoutOutcomeUnknownReason, "look"), "waits"),
			want:   want{pcv1alpha1.PhaseCheckingOut, metav1.ConditionFalse, pcv1alpha1.DeletionBlockedReason, false, true}},
		"pending, being deleted": {checkout: checkout(pcv1alpha1.CheckoutPending),
			result: phaseResult{kind: kindRetry, err: errors.New("503"), deletionBlocked: "waits"},
			want:   want{pcv1alpha1.PhaseCheckingOut, metav1.ConditionFalse, pcv1alpha1.DeletionBlockedReason, true, false}},
		"succeeded, orders provisioning": {checkout: checkout(pcv1alpha1.CheckoutSucceeded), orders: order,
			result: waitForUpstream(pcv1alpha1.OrdersProvisioningReason, "pending", time.Second),
			want:   want{pcv1alpha1.PhaseProvisioning, metav1.ConditionFalse, pcv1alpha1.OrdersProvisioningReason, true, false}},
		"succeeded, orders complete": {checkout: checkout(pcv1alpha1.CheckoutSucceeded), orders: order,
			want: want{pcv1alpha1.PhaseCompleted, metav1.ConditionTrue, pcv1alpha1.SucceededReason, false, false}},
		"resolved by a person, orders complete": {checkout: checkout(pcv1alpha1.CheckoutResolved), orders: order,
			want: want{pcv1alpha1.PhaseCompleted, metav1.ConditionTrue, pcv1alpha1.SucceededReason, false, false}},
		"partially succeeded": {checkout: checkout(pcv1alpha1.CheckoutPartiallySucceeded), orders: order,
			result: stall(pcv1alpha1.CheckoutPartiallyFailedReason, "rest"),
			want:   want{pcv1alpha1.PhaseFailed, metav1.ConditionFalse, pcv1alpha1.CheckoutPartiallyFailedReason, false, true}},
		"orders failed": {checkout: checkout(pcv1alpha1.CheckoutSucceeded), orders: order,
			result: stall(pcv1alpha1.OrdersFailedReason, "error"),
			want:   want{pcv1alpha1.PhaseFailed, metav1.ConditionFalse, pcv1alpha1.OrdersFailedReason, false, true}},
		"abandoned by a person": {checkout: checkout(pcv1alpha1.CheckoutAbandoned),
			result: stall(pcv1alpha1.CheckoutAbandonedReason, "nothing"),
			want:   want{pcv1alpha1.PhaseFailed, metav1.ConditionFalse, pcv1alpha1.CheckoutAbandonedReason, false, true}},
		"terminal error": {result: rejected("400", errors.New("400")),
			want: want{pcv1alpha1.PhaseFailed, metav1.ConditionFalse, pcv1alpha1.UpstreamRejectedReason, false, true}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cart := newCart("ns", "c")
			cart.Generation = 3
			cart.Status.Checkout, cart.Status.Orders = tc.checkout, tc.orders
			summarize(cart, tc.result)
			st := cart.Status
			g.Expect(st.Phase).To(Equal(tc.want.phase))
			ready := meta.FindStatusCondition(st.Conditions, pcv1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(tc.want.ready))
			g.Expect(ready.Reason).To(Equal(tc.want.readyReason))
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, pcv1alpha1.ReconcilingCondition)).To(Equal(tc.want.reconciling), "Reconciling")
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, pcv1alpha1.StalledCondition)).To(Equal(tc.want.stalled), "Stalled")
			g.Expect(st.ObservedGeneration).To(Equal(cart.Generation), "observedGeneration says the operator read this generation, whatever it concluded")
		})
	}
}

// TestSpecHashIsStable pins the hash of two specs: a model change that alters the canonical
// purchase content would re-hash every cart (lapsing every pinned approval, and making every
// recorded checkout look edited). These values are those of 4abeaaf.
func TestSpecHashIsStable(t *testing.T) {
	g := NewWithT(t)
	g.Expect(SpecHash(&newCart("ns", "c").Spec)).To(Equal("sha256:c27768cec2d4c918781ada413751405247bc3afbe9be7ce38aed9204b953947c"))
	g.Expect(SpecHash(richSpec())).To(Equal("sha256:6654dc94cdf9945fce8b9506ec05c21edd6e0f7f8a43b6c89e111a27baf2eb3b"))
}

// richSpec uses every kind of purchase content the hash covers.
func richSpec() *pcv1alpha1.PartnerCartSpec {
	yes := true
	c := newCart("ns", "rich")
	c.Spec.PartnerOnRecordAttestationAccepted = &yes
	c.Spec.LineItems[0].PromotionID = "39NFJQT1Q5KPHPR"
	c.Spec.LineItems[0].CustomTermEndDate = "2027-06-30T00:00:00Z"
	c.Spec.LineItems[0].AttestationAccepted = &yes
	c.Spec.LineItems[0].Participants = []pcv1alpha1.Participant{{Key: pcv1alpha1.ParticipantTransactionReseller, Value: "5357564"}}
	c.Spec.LineItems[0].RenewsTo = &pcv1alpha1.RenewsTo{TermDuration: "P1Y"}
	c.Spec.LineItems[0].AddonItems = []pcv1alpha1.CartAddonItem{{LineItemFields: pcv1alpha1.LineItemFields{
		ID: 1, CatalogItemID: "CFQ7TTC0LHSF:0001:CFQ7TTC0KXG6", Quantity: 25, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y"}}}
	c.Spec.LineItems = append(c.Spec.LineItems, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
		ID: 2, CatalogItemID: "DZH318Z0BQ3Q:0007:DZH318Z0BHQ1", Quantity: 1, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P3Y",
		ProvisioningContext: map[string]string{"scope": "shared", "subscriptionId": "0d3b1f0e-7a11-4d1e-9c64-6f1b3a525c1e", "duration": "3Year"},
		PurchaseCommitment:  &pcv1alpha1.PurchaseCommitment{Amount: "100", Currency: "USD", Grain: "monthly"}}})
	return &c.Spec
}

// TestMigrateLegacyCheckout: intents written by the first release get an outcome from the
// fields it wrote. What it wrote for a refusal cannot tell a refused first call from a refused
// repeat after a committed one (nor its 200 without orders from a purchase): Unknown, for a
// person, never Pending (a call past a gate the cart may no longer pass) nor refused history
// ("nothing bought", so bought again).
func TestMigrateLegacyCheckout(t *testing.T) {
	done := metav1.Now()
	for name, tc := range map[string]struct {
		completed bool
		reason    string
		orders    int
		want      pcv1alpha1.CheckoutOutcome
	}{
		"in flight":         {false, pcv1alpha1.CheckoutInProgressReason, 0, pcv1alpha1.CheckoutPending},
		"outcome unknown":   {false, pcv1alpha1.CheckoutOutcomeUnknownReason, 0, pcv1alpha1.CheckoutUnknown},
		"refused (4xx)":     {false, pcv1alpha1.CheckoutFailedReason, 0, pcv1alpha1.CheckoutUnknown},
		"order groups fail": {true, pcv1alpha1.CheckoutFailedReason, 0, pcv1alpha1.CheckoutUnknown},
		"bought":            {true, pcv1alpha1.CheckoutSucceededReason, 1, pcv1alpha1.CheckoutSucceeded},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cart := newCart("ns", "c")
			cart.Status.Checkout = &pcv1alpha1.CheckoutStatus{CartID: "cart-1", RequestID: "r"}
			if tc.completed {
				cart.Status.Checkout.CompletedAt = &done
			}
			for range tc.orders {
				cart.Status.Orders = append(cart.Status.Orders, pcv1alpha1.OrderStatus{ID: "o"})
			}
			setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, tc.reason, "m")
			migrateLegacyCheckout(cart)
			g.Expect(cart.Status.CheckoutHistory).To(BeEmpty())
			g.Expect(cart.Status.Checkout.Outcome).To(Equal(tc.want))
			if tc.want == pcv1alpha1.CheckoutPending {
				g.Expect(cart.Status.Checkout.Attempts).To(BeNumerically(">=", 1), "that release may have made a call it did not count")
			}
		})
	}
}

// blocked is res with the deletion blocked.
func blocked(res phaseResult, why string) phaseResult {
	res.deletionBlocked = why
	return res
}
