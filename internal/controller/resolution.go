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
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// Verdicts of the checkout-resolution annotation, after "<requestId>/".
const (
	resolutionNothingBought = "nothing-bought"
	resolutionOrdersPrefix  = "orders="
)

// resolveCheckout settles an Unknown checkout as a person recorded it in the annotation
// "<requestId>/<verdict>". A value that does not name this intent's request ID is ignored: it
// was written for another checkout, or kept in Git before this one existed, and nobody looked
// at this one. It never calls checkout: "nothing-bought" closes the intent (Abandoned), and
// "orders=..." records orders that exist in Partner Center for this customer (Resolved). The
// person's words are kept in status.checkout.resolution and in the receipt.
func (r *PartnerCartReconciler) resolveCheckout(ctx context.Context, s *scope, value string) (ctrl.Result, error, bool) {
	cart := s.cart
	co := cart.Status.Checkout
	requestID, verdict, ok := strings.Cut(strings.TrimSpace(value), "/")
	if !ok || strings.TrimSpace(requestID) != co.RequestID {
		return ctrl.Result{}, nil, false
	}
	verdict = strings.TrimSpace(verdict)
	switch {
	case verdict == resolutionNothingBought:
		now := metav1.NewTime(s.now)
		co.Outcome, co.CompletedAt, co.Resolution = pcv1alpha1.CheckoutAbandoned, &now, printable.Truncate(value, 1024)
		msg := fmt.Sprintf("A person recorded that the checkout of cart %s bought nothing (annotation %s); the operator will not check it out again: create a new PartnerCart to buy",
			co.CartID, pcv1alpha1.CheckoutResolutionAnnotation)
		co.Message = msg
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionFalse, pcv1alpha1.CheckoutAbandonedReason, msg)
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved, "%s", msg)
		s.stalled = &stall{pcv1alpha1.CheckoutAbandonedReason, msg}
		// The receipt keeps the intent and the person's word after the object is gone.
		return ctrl.Result{}, r.ensureReceipt(ctx, s), true
	case strings.HasPrefix(verdict, resolutionOrdersPrefix):
		res, err := r.recordResolvedOrders(ctx, s, value, strings.TrimPrefix(verdict, resolutionOrdersPrefix))
		return res, err, true
	}
	res, err := r.stall(s, pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf("%s. Annotation %s=%q is neither %q nor %q",
		co.Message, pcv1alpha1.CheckoutResolutionAnnotation, printable.Truncate(value, 256),
		co.RequestID+"/"+resolutionNothingBought, co.RequestID+"/"+resolutionOrdersPrefix+"<id>[,<id>...]"))
	return res, err, true
}

// recordResolvedOrders reads each order the person named and records them as the purchase.
func (r *PartnerCartReconciler) recordResolvedOrders(ctx context.Context, s *scope, value, list string) (ctrl.Result, error) {
	cart := s.cart
	co := cart.Status.Checkout
	ids := pcv1alpha1.SplitOrderIDs(list)
	if len(ids) == 0 {
		return r.stall(s, pcv1alpha1.CheckoutOutcomeUnknownReason, co.Message+". The annotation names no order")
	}
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "read the orders named by "+pcv1alpha1.CheckoutResolutionAnnotation, err)
	}
	result := &partnercenter.CartCheckoutResult{}
	for _, id := range ids {
		o, err := pc.GetOrder(ctx, s.customerID(), id)
		if err != nil {
			if partnercenter.Classify(err) == partnercenter.ClassNotFound {
				return r.stall(s, pcv1alpha1.CheckoutOutcomeUnknownReason, fmt.Sprintf("%s. Order %s named by annotation %s does not exist for customer %s",
					co.Message, id, pcv1alpha1.CheckoutResolutionAnnotation, s.customerID()))
			}
			return r.upstreamError(s, "get order "+id, err)
		}
		result.Orders = append(result.Orders, *o)
	}
	co.Outcome, co.Resolution = pcv1alpha1.CheckoutResolved, printable.Truncate(value, 1024)
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCheckoutResolved,
		"A person recorded orders %s as the outcome of the checkout of cart %s", strings.Join(ids, ", "), co.CartID)
	res, err := r.recordResult(ctx, s, result, nil)
	setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutResolvedReason,
		"A person recorded orders "+strings.Join(ids, ", ")+" as the outcome of the checkout")
	return res, err
}
