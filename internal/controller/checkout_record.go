package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"

	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// retireRefused closes the current intent as Refused (nothing was bought) and moves it to the
// bounded history: status.checkout is empty again, and a new intent passes the whole gate.
func retireRefused(cart *pcv1alpha1.PartnerCart, why string, generation int64) {
	co := cart.Status.Checkout
	co.Outcome, co.Message, co.Generation = pcv1alpha1.CheckoutRefused, printable.Truncate(why, 2048), generation
	co.Owner, co.Deadline = "", nil
	cart.Status.CheckoutHistory = append(cart.Status.CheckoutHistory, *co)
	if n := len(cart.Status.CheckoutHistory); n > pcv1alpha1.MaxCheckoutHistory {
		cart.Status.CheckoutHistory = cart.Status.CheckoutHistory[n-pcv1alpha1.MaxCheckoutHistory:]
	}
	cart.Status.Checkout = nil
}

// recordResult records the orders of a checkout (from its answer, or from the receipt already
// written for it) and makes sure the receipt exists before the status says so.
func (r *PartnerCartReconciler) recordResult(ctx context.Context, s *scope, result *partnercenter.CartCheckoutResult, fromReceipt *receiptRecord) phaseResult {
	cart := s.cart
	co := cart.Status.Checkout
	now := metav1.NewTime(s.now)
	if fromReceipt != nil {
		cart.Status.Orders, cart.Status.OrderErrors = fromReceipt.Orders, fromReceipt.OrderErrors
	} else {
		cart.Status.Orders = nil
		for _, o := range result.Orders {
			cart.Status.Orders = append(cart.Status.Orders, orderStatus(o))
		}
		cart.Status.OrderErrors = orderErrors(result.OrderErrors)
		co.AdditionalInformation = additionalInformation(result.AdditionalInformation)
	}
	co.CompletedAt = &now
	co.Owner, co.Deadline = "", nil
	co.Generation = cart.Generation
	if co.Outcome != pcv1alpha1.CheckoutResolved {
		co.Outcome = pcv1alpha1.CheckoutSucceeded
		if len(cart.Status.OrderErrors) > 0 {
			co.Outcome = pcv1alpha1.CheckoutPartiallySucceeded
		}
	}
	if cart.Status.Cart != nil {
		cart.Status.Cart.Status = partnercenter.CartStatusOrdered
	}
	if co.SpecHash == cart.Status.SpecHash {
		// (Otherwise CartSynced keeps saying that the spec changed after checkout.)
		setCartFrozen(cart)
	}
	// The receipt is written before the result is patched into status: if we crash in
	// between, recovery finds the receipt and records it without another call.
	if err := r.ensureReceipt(ctx, s); err != nil {
		return retryOn(err)
	}
	// The orders were just answered: they are polled after the first interval.
	s.ordersAnswered = true
	// One Event for the purchase, naming the orders and their status; their completion is
	// the Ready condition's to say (see ordersFinished).
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventOrdersCreated,
		"Checked out cart %s: orders %s", co.CartID, orderStatuses(cart.Status.Orders))
	switch co.Outcome {
	case pcv1alpha1.CheckoutPartiallySucceeded:
		msg := fmt.Sprintf("Created orders %s; order groups failed: %s", orderIDs(cart.Status.Orders), describeOrderErrors(cart.Status.OrderErrors))
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutPartiallyFailedReason, msg)
		r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventCheckoutPartiallyFailed, "%s", msg)
		s.countCheckout("partially_failed")
	case pcv1alpha1.CheckoutSucceeded:
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutSucceededReason,
			"Created orders "+orderIDs(cart.Status.Orders))
		s.countCheckout("succeeded")
	case pcv1alpha1.CheckoutResolved:
		setCondition(cart, pcv1alpha1.CheckedOutCondition, metav1.ConditionTrue, pcv1alpha1.CheckoutResolvedReason,
			"A person recorded orders "+orderIDs(cart.Status.Orders)+" as the outcome of the checkout")
	}
	return next()
}

// additionalInformation keeps the checkout answer's additionalInformation entries as compact
// JSON, at most 16, each cut to 1024 bytes.
func additionalInformation(raw []json.RawMessage) []string {
	var out []string
	for _, r := range raw[:min(len(raw), 16)] {
		var b bytes.Buffer
		if err := json.Compact(&b, r); err != nil {
			continue
		}
		out = append(out, printable.Truncate(b.String(), 1024))
	}
	return out
}

// countFunc counts the elements of xs for which f is true.
func countFunc[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}
