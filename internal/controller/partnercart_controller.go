// Package controller reconciles PartnerCarts: it creates and PUTs the cart upstream, gates the
// checkout on approval, checks the cart out at most once, tracks the orders, and records every
// purchase in status and in an immutable receipt.
package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercarts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercarts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercarts/finalizers,verbs=update
// Receipts (ConfigMaps) only in the receipt namespace: config/rbac/receipts_role.yaml, a Role.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile moves one PartnerCart through its lifecycle. Status is written once, at the end,
// except for the checkout intent, which the exactly-once protocol must persist before the call.
func (r *PartnerCartReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cart := &pcv1alpha1.PartnerCart{}
	if err := r.Client.Get(ctx, req.NamespacedName, cart); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("customerID", cart.Spec.CustomerID)
	ctx = ctrl.LoggerInto(ctx, log)

	if !controllerutil.ContainsFinalizer(cart, pcv1alpha1.Finalizer) {
		if !cart.DeletionTimestamp.IsZero() {
			return ctrl.Result{}, nil
		}
		// The finalizer goes on before the first upstream call, so no purchase can happen
		// on an object that could vanish without a record.
		// The optimistic lock keeps other controllers' finalizers: a merge patch replaces the list.
		patch := optimisticMergeFrom(cart.DeepCopy())
		controllerutil.AddFinalizer(cart, pcv1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, cart, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	s := newScope(r, cart)
	// Receipts whose creation starts from now on were written after the cart was read.
	s.receiptMark = r.receiptWrites.mark()
	migrateLegacyCheckout(cart)
	r.withdrawUnprocessedIntent(ctx, s)

	var res phaseResult
	switch {
	case !cart.DeletionTimestamp.IsZero():
		// A pause does not hold a deletion back: letting the object go is what was asked.
		res = r.reconcileDelete(ctx, s)
	case cart.Annotations[pcv1alpha1.PausedAnnotation] == "true":
		res = paused()
	default:
		res = r.reconcileNormal(ctx, s)
	}
	return r.finish(ctx, s, res)
}

// reconcileNormal runs the lifecycle phases in order; the first result that does not proceed
// ends the reconcile. Each phase owns its part of the status: the upstream cart (verified on
// fresh data before an intent), the approval (decided once), the checkout and every one of
// its outcomes, and the orders.
func (r *PartnerCartReconciler) reconcileNormal(ctx context.Context, s *scope) phaseResult {
	phases := []func(context.Context, *scope) phaseResult{
		r.reconcileCart,
		r.reconcileApproval,
		r.reconcileCheckout,
		r.reconcileCancellation,
		r.reconcileOrders,
	}
	for _, phase := range phases {
		if res := phase(ctx, s); res.stops() {
			return res
		}
	}
	return next()
}

// reconcileDelete lets the object go once nothing can be lost: with no checkout started (or
// only refused ones) it goes at once (an unused cart expires upstream); with a checkout whose
// outcome is not settled it first establishes it, and waits for a person if it cannot; after a
// purchase it makes sure the receipt exists (Orphan policy).
func (r *PartnerCartReconciler) reconcileDelete(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	if co := cart.Status.Checkout; co != nil && !co.Outcome.Final() {
		res := r.reconcileCheckout(ctx, s)
		if co := cart.Status.Checkout; co != nil && !co.Outcome.Final() {
			res.deletionBlocked = "Deletion waits until the outcome of the checkout of cart " + co.CartID + " is recorded"
			switch {
			case co.Outcome == pcv1alpha1.CheckoutUnknown:
				res.deletionBlocked += ": settle it with the annotation " + pcv1alpha1.CheckoutResolutionAnnotation + " (see the Stalled condition)"
			case res.message != "":
				res.deletionBlocked += ": " + res.message
			}
			return res
		}
		if res.err != nil {
			return res
		}
	}
	if res, blocked := r.cancellationBeforeDelete(ctx, s); blocked {
		return res
	}
	if co := cart.Status.Checkout; co != nil && co.Outcome.Final() && (len(cart.Status.Orders) > 0 || co.Resolution != "") {
		if err := r.ensureReceipt(ctx, s); err != nil {
			res := retryOn(err)
			res.deletionBlocked = "Deletion waits until the receipt of the purchase is written: " + err.Error()
			return res
		}
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventOrphaned,
			"PartnerCart deleted with deletionPolicy Orphan: subscriptions of orders %s are left alone; receipt ConfigMap %s/%s keeps the record",
			orderIDs(cart.Status.Orders), r.Options.ReceiptNamespace, cart.Status.ReceiptName)
	}
	patch := optimisticMergeFrom(cart.DeepCopy())
	controllerutil.RemoveFinalizer(cart, pcv1alpha1.Finalizer)
	if err := r.Client.Patch(ctx, cart, patch); err != nil {
		return retryOn(client.IgnoreNotFound(err))
	}
	if s.checkoutResult != "" {
		// Settled on the way out: the receipt, not the status, keeps the record.
		countCheckoutMetrics(cart, s.checkoutResult, s.now)
	}
	if s.cancellationCompleted {
		countCancellationMetrics(cart)
	}
	return phaseResult{noStatusWrite: true}
}

// cancellationBeforeDelete finishes a cancellation under way before the object goes: a call
// may be in flight, and its record (the cancellation receipt) is written when every outcome is
// known. blocked says the deletion must wait, with res saying why.
func (r *PartnerCartReconciler) cancellationBeforeDelete(ctx context.Context, s *scope) (res phaseResult, blocked bool) {
	if c := s.cart.Status.Cancellation; c == nil || c.CompletedAt != nil {
		return next(), false
	}
	res = r.carryOutCancellation(ctx, s)
	if s.cart.Status.Cancellation.CompletedAt == nil {
		res.deletionBlocked = "Deletion waits until the cancellation under way is carried out and recorded"
		if res.message != "" {
			res.deletionBlocked += ": " + res.message
		}
		return res, true
	}
	return res, res.err != nil
}

// migrateLegacyCheckout gives an intent recorded before status.checkout.outcome existed its
// outcome, from the fields that version wrote.
func migrateLegacyCheckout(cart *pcv1alpha1.PartnerCart) {
	co := cart.Status.Checkout
	if co == nil || co.Outcome != "" {
		return
	}
	if co.Intent == 0 {
		co.Intent = 1
	}
	reason := conditionReason(cart, pcv1alpha1.CheckedOutCondition)
	switch {
	case co.CompletedAt == nil && reason == pcv1alpha1.CheckoutOutcomeUnknownReason:
		co.Outcome, co.Message = pcv1alpha1.CheckoutUnknown, conditionMessage(cart, pcv1alpha1.CheckedOutCondition)
	case co.CompletedAt == nil && reason == pcv1alpha1.CheckoutFailedReason,
		co.CompletedAt != nil && co.Resolution == "" && len(cart.Status.Orders) == 0:
		// That release wrote CheckoutFailed for a definite refusal of the first call, but also
		// for a refused repeat after a call that may have committed; and it completed a 200
		// without orders. Its record cannot tell "nothing bought" from "bought": repeating the
		// call, or treating it as refused, could buy twice. A person settles it.
		co.Outcome, co.CompletedAt = pcv1alpha1.CheckoutUnknown, nil
		co.Message = printable.Truncate(fmt.Sprintf("This checkout was recorded by an earlier release whose record cannot tell whether it bought (%s). "+
			"Check the orders of customer %s created since %s in Partner Center (MS-RequestId %s) and record what you find with the annotation %s=%s/nothing-bought or %s=%s/orders=<id>[,<id>...]",
			conditionMessage(cart, pcv1alpha1.CheckedOutCondition), co.CustomerID, co.StartedAt.UTC().Format(time.RFC3339), co.RequestID,
			pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID), 2048)
	case co.CompletedAt == nil:
		// That release may not have counted its calls: one may have been made.
		co.Outcome, co.Attempts = pcv1alpha1.CheckoutPending, max(co.Attempts, 1)
	case strings.HasSuffix(co.Resolution, resolutionNothingBought):
		co.Outcome, co.Message = pcv1alpha1.CheckoutAbandoned, conditionMessage(cart, pcv1alpha1.CheckedOutCondition)
	case co.Resolution != "":
		co.Outcome = pcv1alpha1.CheckoutResolved
	case len(cart.Status.OrderErrors) > 0:
		co.Outcome = pcv1alpha1.CheckoutPartiallySucceeded
	default:
		co.Outcome = pcv1alpha1.CheckoutSucceeded
	}
}

// withdrawUnprocessedIntent drops a Pending intent none of whose calls Partner Center
// processed (each was refused before it: no token, 401, 429, the client's tenant gate; such a
// call is taken back from attempts). Nothing was bought, so nothing is lost; and the gate
// (approval, pin, price limits, account ceiling, freeze, the re-purchase guard) runs again, as
// for a new intent, before any call: an approval withdrawn, a freeze or a deletion meanwhile
// stops it. A new intent made on the same cart gets the same request ID (the intent number
// comes from the history, which this does not touch).
func (r *PartnerCartReconciler) withdrawUnprocessedIntent(ctx context.Context, s *scope) {
	co := s.cart.Status.Checkout
	if co == nil || co.Outcome != pcv1alpha1.CheckoutPending || co.Attempts > 0 || co.CartSeenOrdered {
		return
	}
	ctrl.LoggerFrom(ctx).Info("Withdrawing a checkout intent no call of which reached Partner Center", "requestID", co.RequestID)
	s.cart.Status.Checkout = nil
}

// finish ends a reconcile: it announces the state the cart reached (an Event, once), writes
// the status with the summary derived from the phase result, and turns the result into what
// the work queue takes. An error is returned alone: controller-runtime ignores a requeue
// returned with an error.
func (r *PartnerCartReconciler) finish(ctx context.Context, s *scope, res phaseResult) (ctrl.Result, error) {
	out, err := r.toCtrlResult(ctx, res)
	if res.noStatusWrite {
		return out, err
	}
	r.announce(s, res)
	if werr := r.patchStatus(ctx, s, res); werr != nil {
		return ctrl.Result{}, errors.Join(err, werr)
	}
	return out, err
}

// announce emits the result's Event when the cart reaches its reason: not when the cart as read
// already showed it (in Ready, or in Stalled while a deletion waits), so a state is announced
// once however often it is reconciled.
func (r *PartnerCartReconciler) announce(s *scope, res phaseResult) {
	if res.event == nil || res.reason == "" ||
		conditionReason(s.read, pcv1alpha1.ReadyCondition) == res.reason || conditionReason(s.read, pcv1alpha1.StalledCondition) == res.reason {
		return
	}
	r.eventf(s.cart, res.event.eventType, res.event.reason, "%s", res.message)
}

// patchStatus writes the status once, at the end of a reconcile, with the summary conditions
// derived from the phase result. The patch is a diff against the object as stored, so a
// reconcile never overwrites fields it did not change.
func (r *PartnerCartReconciler) patchStatus(ctx context.Context, s *scope, res phaseResult) error {
	summarize(s.cart, res)
	// Compare what would be sent, not the Go values: times read back from the API server
	// have second precision, so equal statuses can differ in memory.
	data, err := client.MergeFrom(s.stored).Data(s.cart)
	if err != nil {
		return fmt.Errorf("compute status patch: %w", err)
	}
	if string(data) == "{}" {
		return nil
	}
	if checkoutChanged(s.stored, s.cart) {
		// The checkout's state is written only over the state it was decided from: a late or
		// stale writer (a second manager, a reconcile that read an old copy) must not turn a
		// recorded purchase back into Pending or Unknown, or drop an intent another process
		// has in flight. A lost race loses nothing: the receipt is written before a purchase
		// is recorded here, and an intent's repeat carries the same request ID.
		if data, err = optimisticMergeFrom(s.stored).Data(s.cart); err != nil {
			return fmt.Errorf("compute status patch: %w", err)
		}
	}
	// A shutdown must not drop the record of a checkout that just happened.
	ctx, cancel := r.detached(ctx)
	defer cancel()
	if err := r.Client.Status().Patch(ctx, s.cart, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patch status: %w", err)
	}
	if s.checkoutResult != "" {
		countCheckoutMetrics(s.cart, s.checkoutResult, s.now)
	}
	if s.cancellationCompleted {
		countCancellationMetrics(s.cart)
	}
	return nil
}
