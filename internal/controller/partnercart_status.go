package controller

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// setCondition sets a condition stamped with the object's generation.
func setCondition(cart *pcv1alpha1.PartnerCart, condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&cart.Status.Conditions, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: printable.Truncate(message, 4096), ObservedGeneration: cart.Generation,
	})
}

// conditionReason returns the reason of a condition, or "" when it is absent.
func conditionReason(cart *pcv1alpha1.PartnerCart, condType string) string {
	if c := meta.FindStatusCondition(cart.Status.Conditions, condType); c != nil {
		return c.Reason
	}
	return ""
}

// conditionMessage returns the message of a condition, or "" when it is absent.
func conditionMessage(cart *pcv1alpha1.PartnerCart, condType string) string {
	if c := meta.FindStatusCondition(cart.Status.Conditions, condType); c != nil {
		return c.Message
	}
	return ""
}

// summarize derives phase, Ready, Reconciling and Stalled (kstatus) from the status (above
// all status.checkout.outcome) and how the phases ended, and stamps observedGeneration: the
// operator has read this generation, and the conditions say what it concluded, whatever it
// waits for or retries (Reconciling=True while it retries, with the reason). Argo CD and
// Flux look at the conditions only once observedGeneration is current, so a cart waiting for
// its credentials shows why instead of "waiting for the operator". It is a pure function of
// its inputs.
func summarize(cart *pcv1alpha1.PartnerCart, res phaseResult) {
	st := &cart.Status
	st.OrderCount = int32(len(st.Orders))
	st.Total = displayTotal(st)

	switch {
	case res.cancellation && res.kind != kindPaused:
		summarizeCancellation(cart, res)
	case res.kind == kindPaused:
		// The phase stays what it was: a paused Completed cart is still bought.
		if st.Phase == "" {
			st.Phase = progressPhase(st, res.kind)
		}
		setSummary(&st.Conditions, cart.Generation, summaryWaiting, res.reason, res.message)
	case res.kind == kindStall:
		st.Phase = pcv1alpha1.PhaseFailed
		if st.Checkout != nil && !st.Checkout.Outcome.Final() {
			// Unknown: something may have been bought; "Failed" would say it was not.
			st.Phase = pcv1alpha1.PhaseCheckingOut
		}
		setSummary(&st.Conditions, cart.Generation, summaryStalled, res.reason, res.message)
	case st.Checkout != nil && st.Checkout.Outcome.Final() && !res.stops():
		st.Phase = pcv1alpha1.PhaseCompleted
		setSummary(&st.Conditions, cart.Generation, summaryReady, pcv1alpha1.SucceededReason, fmt.Sprintf("Orders %s completed", orderIDs(st.Orders)))
	default:
		st.Phase = progressPhase(st, res.kind)
		reason, msg := res.reason, res.message
		if reason == "" {
			reason, msg = pcv1alpha1.ProgressingReason, "Reconciling the cart with Partner Center"
			if res.err != nil {
				reason, msg = pcv1alpha1.UpstreamUnavailableReason, "Retrying: "+res.err.Error()
			}
		}
		state := summaryInProgress
		if st.Phase == pcv1alpha1.PhaseAwaitingApproval {
			state = summaryWaiting // waiting for a person is not work in flight
		}
		setSummary(&st.Conditions, cart.Generation, state, reason, msg)
	}
	if res.deletionBlocked != "" {
		setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.DeletionBlockedReason, res.deletionBlocked)
	}
	if st.Checkout == nil && meta.FindStatusCondition(st.Conditions, pcv1alpha1.CheckedOutCondition) == nil {
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.NotCheckedOutReason, "The cart has not been checked out")
	}
	st.ObservedGeneration = cart.Generation
}

// summarizeCancellation is summarize for a result of the cancellation phase: the phase comes
// from status.cancellation, Ready from how the cancellation stands.
func summarizeCancellation(cart *pcv1alpha1.PartnerCart, res phaseResult) {
	st := &cart.Status
	st.Phase = cancellationPhase(st)
	state := summaryInProgress
	switch {
	case res.kind == kindStall:
		state = summaryStalled
	case res.kind == kindWaitPerson && res.reason == pcv1alpha1.CancelledReason:
		state = summaryReady
	case res.kind == kindWaitPerson:
		state = summaryWaiting
	}
	setSummary(&st.Conditions, cart.Generation, state, res.reason, res.message)
}

// progressPhase is the phase of a cart that is neither stalled nor completed.
func progressPhase(st *pcv1alpha1.PartnerCartStatus, kind phaseKind) pcv1alpha1.Phase {
	switch {
	case st.Checkout != nil && st.Checkout.Outcome.Final():
		return pcv1alpha1.PhaseProvisioning
	case st.Checkout != nil:
		return pcv1alpha1.PhaseCheckingOut
	case kind == kindWaitPerson:
		return pcv1alpha1.PhaseAwaitingApproval
	}
	return pcv1alpha1.PhasePending
}

// displayTotal is the TOTAL column: what the orders cost after checkout, or the quote before.
func displayTotal(st *pcv1alpha1.PartnerCartStatus) string {
	if len(st.Orders) > 0 {
		prices := make([]string, 0, len(st.Orders))
		currency := ""
		for _, o := range st.Orders {
			if o.TotalPrice == "" {
				return ""
			}
			prices = append(prices, o.TotalPrice)
			currency = o.CurrencyCode
		}
		total, err := sumDecimals(prices)
		if err != nil {
			return ""
		}
		return total + " " + currency
	}
	if st.Cart != nil && st.Cart.QuotedTotal != "" {
		return st.Cart.QuotedTotal + " " + st.Cart.CurrencyCode
	}
	return ""
}

// optimisticMergeFrom is a merge patch that fails if the object changed since it was read.
func optimisticMergeFrom(obj client.Object) client.Patch {
	return client.MergeFromWithOptions(obj, client.MergeFromWithOptimisticLock{})
}
