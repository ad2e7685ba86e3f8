package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// reconcileCart makes the upstream cart equal to the spec: POST when there is none (or it
// expired), PUT when the purchase content changed, and no call at all when nothing changed.
// After a checkout the cart is history and is never written again.
func (r *PartnerCartReconciler) reconcileCart(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	specHash := SpecHash(&cart.Spec)
	cart.Status.SpecHash = specHash

	if co := cart.Status.Checkout; co != nil {
		if co.SpecHash != specHash {
			if conditionReason(cart, pcv1alpha1.CartSyncedCondition) != pcv1alpha1.SpecChangedAfterCheckoutReason {
				r.eventf(cart, corev1.EventTypeWarning, pcv1alpha1.EventSpecIgnored,
					"Purchase content changed after cart %s was checked out; the change is ignored: create a new PartnerCart to buy more", co.CartID)
			}
			setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.SpecChangedAfterCheckoutReason,
				fmt.Sprintf("The purchase content (%s) differs from what cart %s checked out (%s); edits after checkout are ignored", specHash, co.CartID, co.SpecHash))
		} else {
			setCartFrozen(cart)
		}
		return ctrl.Result{}, nil
	}

	if msg, err := s.customerNotAllowed(ctx); err != nil {
		return r.upstreamError(s, "read the account", err)
	} else if msg != "" {
		return r.stall(s, pcv1alpha1.CustomerNotAllowedReason, msg)
	}
	current := cart.Status.Cart
	switch {
	case current == nil:
		return r.createCart(ctx, s, "")
	case s.cartExpiresSoon():
		return r.createCart(ctx, s, current.ID)
	case current.SyncedSpecHash != specHash:
		return r.updateCart(ctx, s)
	}
	return r.checkLineItems(s)
}

// setCartFrozen marks the cart as history: checked out, never written again.
func setCartFrozen(cart *pcv1alpha1.PartnerCart) {
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartFrozenReason,
		"Cart "+cart.Status.Checkout.CartID+" was checked out; its content is frozen")
}

func (r *PartnerCartReconciler) createCart(ctx context.Context, s *scope, replaced string) (ctrl.Result, error) {
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "create cart", err)
	}
	cart := s.cart
	created, err := pc.CreateCart(ctx, cart.Spec.CustomerID, wireCart(&cart.Spec), createRequestID(cart.UID, cart.Status.SpecHash, replaced))
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			// A 404 on POST .../carts means the customer, not a cart, is unknown.
			return r.rejected(s, "Partner Center does not know customer "+cart.Spec.CustomerID+": "+err.Error(), err)
		}
		return r.upstreamError(s, "create cart", err)
	}
	r.recordCart(s, created)
	s.cartWritten = true
	recordCustomer(ctx, s, pc)
	// A first cart is no milestone of its own (status.cart.id names it; the next Event a user
	// sees is WaitingForApproval or OrdersCreated). Replacing one is worth telling.
	if replaced != "" {
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCartRecreated,
			"Cart %s expired or vanished before checkout; created cart %s from the spec", replaced, created.ID)
	}
	return r.checkLineItems(s)
}

func (r *PartnerCartReconciler) updateCart(ctx context.Context, s *scope) (ctrl.Result, error) {
	pc, err := s.partnerCenter(ctx)
	if err != nil {
		return r.upstreamError(s, "update cart", err)
	}
	cart := s.cart
	// A PUT rewrites what another process may be checking out right now (a second manager
	// whose cache is current verified and is buying it): only a current copy of the object
	// may write the cart. A stale one comes back once the cache has caught up.
	live := &pcv1alpha1.PartnerCart{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cart), live); err != nil {
		return ctrl.Result{}, fmt.Errorf("read the PartnerCart before writing its cart: %w", err)
	}
	if live.ResourceVersion != s.before.ResourceVersion {
		ctrl.LoggerFrom(ctx).Info("The cached PartnerCart is older than the API server's; not writing its cart from it")
		s.noStatusWrite = true
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	id := cart.Status.Cart.ID
	body := wireCart(&cart.Spec)
	body.ID = id
	updated, err := pc.UpdateCart(ctx, cart.Spec.CustomerID, id, body)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			return r.createCart(ctx, s, id)
		}
		return r.upstreamError(s, "update cart", err)
	}
	r.recordCart(s, updated)
	s.cartWritten = true
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCartUpdated, "Updated cart %s to spec %s", id, cart.Status.SpecHash)
	return r.checkLineItems(s)
}

func (r *PartnerCartReconciler) recordCart(s *scope, c *partnercenter.Cart) {
	s.cart.Status.Cart = cartStatus(c, s.cart.Status.SpecHash)
	s.upstreamLines = c.LineItems
	errs := lineItemErrors(c)
	if len(errs) > 0 && !equalLineErrors(s.cart.Status.LineItemErrors, errs) {
		r.eventf(s.cart, corev1.EventTypeWarning, pcv1alpha1.EventLineItemErrors, "Partner Center rejected line items: %s", describeLineErrors(errs))
	}
	s.cart.Status.LineItemErrors = errs
}

// checkLineItems blocks everything after the cart while Partner Center rejects a line. This
// is terminal until the spec changes: no upstream call would change the answer.
func (r *PartnerCartReconciler) checkLineItems(s *scope) (ctrl.Result, error) {
	cart := s.cart
	if errs := cart.Status.LineItemErrors; len(errs) > 0 {
		msg := "Partner Center rejected line items: " + describeLineErrors(errs) + "; fix spec.lineItems"
		setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.LineItemErrorsReason, msg)
		s.stalled = &stall{pcv1alpha1.LineItemErrorsReason, msg}
		s.done = true
		return ctrl.Result{}, nil
	}
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartSyncedReason,
		fmt.Sprintf("Cart %s matches spec %s", cart.Status.Cart.ID, cart.Status.SpecHash))
	return ctrl.Result{}, nil
}

// cartExpiresSoon reports whether the upstream cart is past, or within the margin of, its
// expirationTimestamp.
// The margin is at most a quarter of the cart's lifetime, so a short upstream expiry never
// makes every cart look expired (which would re-create carts forever).
func (s *scope) cartExpiresSoon() bool {
	c := s.cart.Status.Cart
	if c == nil || c.ExpirationTimestamp == nil {
		return false
	}
	margin := s.r.Options.CartExpiryMargin
	if c.CreationTimestamp != nil {
		margin = min(margin, c.ExpirationTimestamp.Sub(c.CreationTimestamp.Time)/4)
	}
	return !s.now.Add(margin).Before(c.ExpirationTimestamp.Time)
}

// recordCustomer reads who the cart buys for, once per upstream cart creation (so never in a
// loop), for status.customer, the quote and the approver. It is informational: a failure is
// logged and leaves the previous record, which names its customer ID.
func recordCustomer(ctx context.Context, s *scope, pc partnercenter.Client) {
	id := s.cart.Spec.CustomerID
	if c := s.cart.Status.Customer; c != nil && c.ID == id && c.CompanyName != "" {
		return
	}
	customer, err := pc.GetCustomer(ctx, id)
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Could not read the customer's company profile", "customerId", id, "error", err.Error())
		return
	}
	p := customer.CompanyProfile
	s.cart.Status.Customer = &pcv1alpha1.CustomerStatus{ID: id,
		CompanyName: printable.Truncate(p.CompanyName, 256), Domain: printable.Truncate(p.Domain, 256)}
}
