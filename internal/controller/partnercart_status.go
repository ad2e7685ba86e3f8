package controller

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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

// waitingIsProgress lists the wait reasons that mean the generation is reconciled as far as it
// can be (a person or Partner Center must act), as opposed to a failure being retried.
var waitingIsProgress = map[string]bool{
	pcv1alpha1.WaitingForApprovalReason:   true,
	pcv1alpha1.ApprovalHashMismatchReason: true,
	pcv1alpha1.PriceLimitExceededReason:   true,
	pcv1alpha1.QuoteUnavailableReason:     true,
	// An approver must approve again; an admin must install the policies.
	pcv1alpha1.ApprovalNotStampedReason:          true,
	pcv1alpha1.AdmissionPoliciesNotInForceReason: true,
	pcv1alpha1.OrdersProvisioningReason:          true,
	pcv1alpha1.PurchaseFrozenReason:              true,
}

// summarize derives phase, Ready, Reconciling and Stalled (kstatus) from the status (above
// all status.checkout.outcome) and what the phases concluded, and stamps observedGeneration
// on success or terminal failure only. It is a pure function of its inputs.
func summarize(cart *pcv1alpha1.PartnerCart, s outcome) {
	retErr := s.err
	st := &cart.Status
	st.OrderCount = int32(len(st.Orders))
	st.Total = displayTotal(st)

	terminal := errors.Is(retErr, reconcile.TerminalError(nil))
	switch {
	case s.stalled != nil:
		st.Phase = pcv1alpha1.PhaseFailed
		if st.Checkout != nil && !st.Checkout.Outcome.Final() {
			// Unknown: something may have been bought; "Failed" would say it was not.
			st.Phase = pcv1alpha1.PhaseCheckingOut
		}
		setCondition(cart, pcv1alpha1.StalledCondition, metav1.ConditionTrue, s.stalled.reason, s.stalled.message)
		meta.RemoveStatusCondition(&st.Conditions, pcv1alpha1.ReconcilingCondition)
		setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, s.stalled.reason, s.stalled.message)
	case st.Checkout != nil && st.Checkout.Outcome.Final() && s.waitReason == "" && retErr == nil:
		st.Phase = pcv1alpha1.PhaseCompleted
		meta.RemoveStatusCondition(&st.Conditions, pcv1alpha1.StalledCondition)
		meta.RemoveStatusCondition(&st.Conditions, pcv1alpha1.ReconcilingCondition)
		setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionTrue, pcv1alpha1.SucceededReason,
			fmt.Sprintf("Orders %s completed", orderIDs(st.Orders)))
	default:
		st.Phase = progressPhase(st, s.waitReason)
		reason, msg := s.waitReason, s.waitMessage
		if reason == "" {
			reason, msg = pcv1alpha1.ProgressingReason, "Reconciling the cart with Partner Center"
			if retErr != nil {
				reason, msg = pcv1alpha1.UpstreamUnavailableReason, "Retrying: "+retErr.Error()
			}
		}
		meta.RemoveStatusCondition(&st.Conditions, pcv1alpha1.StalledCondition)
		if st.Phase == pcv1alpha1.PhaseAwaitingApproval {
			// Waiting for a person is not work in flight.
			meta.RemoveStatusCondition(&st.Conditions, pcv1alpha1.ReconcilingCondition)
		} else {
			setCondition(cart, pcv1alpha1.ReconcilingCondition, metav1.ConditionTrue, reason, msg)
		}
		setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, msg)
	}
	if s.deletionBlocked != "" {
		setCondition(cart, pcv1alpha1.ReadyCondition, metav1.ConditionFalse, pcv1alpha1.DeletionBlockedReason, s.deletionBlocked)
	}
	if st.Checkout == nil && meta.FindStatusCondition(st.Conditions, pcv1alpha1.CheckedOutCondition) == nil {
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutPendingReason, "The cart has not been checked out")
	}
	if terminal || (retErr == nil && (s.waitReason == "" || waitingIsProgress[s.waitReason])) {
		st.ObservedGeneration = cart.Generation
	}
}

// progressPhase is the phase of a cart that is neither stalled nor completed.
func progressPhase(st *pcv1alpha1.PartnerCartStatus, waitReason string) pcv1alpha1.Phase {
	switch {
	case st.Checkout != nil && st.Checkout.Outcome.Final():
		return pcv1alpha1.PhaseProvisioning
	case st.Checkout != nil:
		return pcv1alpha1.PhaseCheckingOut
	case waitingIsProgress[waitReason] && waitReason != pcv1alpha1.OrdersProvisioningReason:
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
