package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// reconcileApproval is the gate: nothing is bought until spec.approval allows it. Waiting
// makes no upstream call and no requeue: a spec change wakes the cart.
func (r *PartnerCartReconciler) reconcileApproval(_ context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	if cart.Status.Checkout != nil {
		// What was checked out was approved, whatever spec.approval says now.
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, pcv1alpha1.ApprovedReason,
			approvedMessage(cart.Status.Checkout.SpecHash))
		return ctrl.Result{}, nil
	}
	reason, msg := approvalDecision(cart)
	if reason == pcv1alpha1.ApprovedReason {
		setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionTrue, reason, msg)
		return ctrl.Result{}, nil
	}
	if conditionReason(cart, pcv1alpha1.ApprovedCondition) != reason {
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventWaitingForApproval, "%s", msg)
	}
	setCondition(cart, pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, reason, msg)
	s.waitReason, s.waitMessage = reason, msg
	s.done = true
	return ctrl.Result{}, nil
}

// approvalDecision says whether spec.approval allows checking out the cart as synced.
func approvalDecision(cart *pcv1alpha1.PartnerCart) (reason, message string) {
	a := cart.Spec.Approval
	hash := cart.Status.SpecHash
	if !a.Approved {
		return pcv1alpha1.WaitingForApprovalReason, fmt.Sprintf(
			"Waiting for approval: set spec.approval.approved to true (optionally pin spec.approval.specHash to %s)", hash)
	}
	if a.SpecHash != "" && a.SpecHash != hash {
		return pcv1alpha1.ApprovalHashMismatchReason, fmt.Sprintf(
			"spec.approval.specHash %s does not match the current purchase content %s: the content changed after approval; approve it again", a.SpecHash, hash)
	}
	if a.MaxTotalPrice != "" {
		quoted := ""
		if cart.Status.Cart != nil {
			quoted = cart.Status.Cart.QuotedTotal
		}
		if quoted == "" {
			return pcv1alpha1.QuoteUnavailableReason, "spec.approval.maxTotalPrice is set but Partner Center quoted no total for the cart"
		}
		if cmp, err := compareDecimals(quoted, a.MaxTotalPrice); err != nil || cmp > 0 {
			return pcv1alpha1.PriceLimitExceededReason, fmt.Sprintf(
				"The quoted total %s %s is above spec.approval.maxTotalPrice %s", quoted, cart.Status.Cart.CurrencyCode, a.MaxTotalPrice)
		}
	}
	return pcv1alpha1.ApprovedReason, approvedMessage(hash)
}

func approvedMessage(specHash string) string { return "Approved for purchase content " + specHash }
