package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Values of the checkout-resolution annotation.
const (
	resolutionNothingBought = "nothing-bought"
	resolutionOrdersPrefix  = "orders="
)

// awaitingResolution reports whether the cart's checkout outcome is unknown, so that only a
// person can settle it.
func awaitingResolution(cart *pcv1alpha1.PartnerCart) bool {
	co := cart.Status.Checkout
	return co != nil && co.CompletedAt == nil &&
		conditionReason(cart, pcv1alpha1.CheckedOutCondition) == pcv1alpha1.CheckoutOutcomeUnknownReason
}

// resolveCheckout settles an unknown checkout as a person recorded it in the annotation. It
// never calls checkout: "nothing-bought" closes the intent, and "orders=..." records orders
// that exist in Partner Center for this customer, as if the checkout had returned them. The
// person's words are kept in status.checkout.resolution and in the receipt.
func (r *PartnerCartReconciler) resolveCheckout(ctx context.Context, s *scope, value string) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	value = strings.TrimSpace(value)
	switch {
	case value == resolutionNothingBought:
		now := metav1.NewTime(s.now)
		co.CompletedAt, co.Resolution = &now, value
		msg := fmt.Sprintf("A person recorded that the checkout of cart %s bought nothing (annotation %s); the operator will not check it out again: create a new PartnerCart to buy",
			co.CartID, pcv1alpha1.CheckoutResolutionAnnotation)
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutAbandonedReason, msg)
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved, "%s", msg)
		s.stalled = &stall{pcv1alpha1.CheckoutAbandonedReason, msg}
		// The receipt keeps the intent and the person's word after the object is gone.
		return ctrl.Result{}, r.ensureReceipt(ctx, s)
	case strings.HasPrefix(value, resolutionOrdersPrefix):
		return r.recordResolvedOrders(ctx, s, value)
	}
	return r.checkoutUnknown(s, fmt.Sprintf("annotation %s=%q is neither %q nor %q",
		pcv1alpha1.CheckoutResolutionAnnotation, value, resolutionNothingBought, resolutionOrdersPrefix+"<id>[,<id>...]"))
}

// recordResolvedOrders reads each order the person named and records them as the purchase.
func (r *PartnerCartReconciler) recordResolvedOrders(ctx context.Context, s *scope, value string) (ctrl.Result, error) {
	cart := s.cart
	var ids []string
	for id := range strings.SplitSeq(strings.TrimPrefix(value, resolutionOrdersPrefix), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return r.checkoutUnknown(s, fmt.Sprintf("annotation %s names no order", pcv1alpha1.CheckoutResolutionAnnotation))
	}
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "read the orders named by "+pcv1alpha1.CheckoutResolutionAnnotation, err)
	}
	result := &partnercenter.CartCheckoutResult{}
	for _, id := range ids {
		o, err := pc.GetOrder(ctx, cart.Spec.CustomerID, id)
		if err != nil {
			if partnercenter.Classify(err) == partnercenter.ClassNotFound {
				return r.checkoutUnknown(s, fmt.Sprintf("order %s named by annotation %s does not exist for customer %s",
					id, pcv1alpha1.CheckoutResolutionAnnotation, cart.Spec.CustomerID))
			}
			return r.upstreamError(s, "get order "+id, err)
		}
		result.Orders = append(result.Orders, *o)
	}
	cart.Status.Checkout.Resolution = value
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved,
		"A person recorded orders %s as the outcome of the checkout of cart %s", strings.Join(ids, ", "), cart.Status.Checkout.CartID)
	res, err := r.recordCheckout(ctx, s, result)
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutResolvedReason,
		"A person recorded orders "+strings.Join(ids, ", ")+" as the outcome of the checkout")
	return res, err
}
