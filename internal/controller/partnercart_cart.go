package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// reconcileCart makes the upstream cart equal to the spec: POST when there is none (or it
// expired, or a checkout found it gone), PUT when the purchase content changed, and no call at
// all when nothing changed. Right before a checkout may start it also verifies the cart on
// fresh data. After a checkout the cart is history and is never written again.
func (r *PartnerCartReconciler) reconcileCart(ctx context.Context, s *scope) phaseResult {
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
		return next()
	}

	if msg, err := s.customerNotAllowed(ctx); err != nil {
		return upstreamError(s, "read the account", err)
	} else if msg != "" {
		return stall(pcv1alpha1.CustomerNotAllowedReason, msg)
	}
	if res := r.syncCart(ctx, s); res.stops() {
		return res
	}
	if res := r.checkLineItems(s); res.stops() || !r.checkoutMayFollow(s) {
		return res
	}
	return r.verifyCart(ctx, s)
}

// syncCart writes the upstream cart when the spec asks for other content than it holds, or
// it is missing or expiring.
func (r *PartnerCartReconciler) syncCart(ctx context.Context, s *scope) phaseResult {
	switch current := s.cart.Status.Cart; {
	case current == nil:
		return r.createCart(ctx, s, "")
	case s.cartExpiresSoon():
		return r.createCart(ctx, s, current.ID)
	case current.SyncedSpecHash != s.cart.Status.SpecHash:
		return r.updateCart(ctx, s)
	}
	return next()
}

// checkoutMayFollow reports whether the checkout phase may start an intent in this reconcile:
// none exists and the cart is approved, with purchases not frozen and the admission policies
// in force. Only then is the upstream cart read before the approval is decided; a cart that
// waits makes no upstream call.
func (r *PartnerCartReconciler) checkoutMayFollow(s *scope) bool {
	return s.cart.Status.Checkout == nil && s.cart.Spec.Approval.Approved && !r.Options.PurchaseFreeze && r.admissionInForce()
}

// verifyCart makes sure the cart about to be bought holds exactly what the spec asks for, by
// reading it now (unless this reconcile just wrote it): a lost status write, a conflicting
// intent write or another manager's stale PUT can leave the cart with content nobody
// approved. A difference is PUT right, never bought; a cart gone upstream is re-created. The
// approval is then decided on this fresh quote, not one that may be days old.
func (r *PartnerCartReconciler) verifyCart(ctx context.Context, s *scope) phaseResult {
	cart := s.cart
	if !s.cartWritten {
		pc, res := r.upstream(ctx, s, "read cart")
		if res.stops() {
			return res
		}
		upstream, err := pc.GetCart(ctx, cart.Spec.CustomerID, cart.Status.Cart.ID)
		switch {
		case err != nil && partnercenter.Classify(err) == partnercenter.ClassNotFound:
			res = r.createCart(ctx, s, cart.Status.Cart.ID)
		case err != nil:
			return upstreamError(s, "read cart "+cart.Status.Cart.ID, err)
		case linesDiffer(upstream.LineItems, &cart.Spec) != "":
			ctrl.LoggerFrom(ctx).Info("Upstream cart differs from the spec; updating it instead of buying",
				"cartID", upstream.ID, "difference", linesDiffer(upstream.LineItems, &cart.Spec))
			res = r.updateCart(ctx, s)
		default:
			r.recordCart(s, upstream)
		}
		if res.stops() {
			return res
		}
		if res := r.checkLineItems(s); res.stops() {
			return res
		}
	}
	if diff := linesDiffer(s.upstreamLines, &cart.Spec); diff != "" {
		// Our own write was answered with other content: buying it would buy what nobody approved.
		return stall(pcv1alpha1.UpstreamCartDiffersReason, fmt.Sprintf(
			"Cart %s upstream does not hold what the spec asks for (%s) even after it was written; nothing is bought. "+
				"If Partner Center sets this itself (an eligible promotion, say), put it in the spec and approve that content", cart.Status.Cart.ID, diff))
	}
	return next()
}

// setCartFrozen marks the cart as history: checked out, never written again.
func setCartFrozen(cart *pcv1alpha1.PartnerCart) {
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartFrozenReason,
		"Cart "+cart.Status.Checkout.CartID+" was checked out; its content is frozen")
}

// createCart creates the upstream cart from the spec (replacing one that expired or vanished).
func (r *PartnerCartReconciler) createCart(ctx context.Context, s *scope, replaced string) phaseResult {
	pc, res := r.upstream(ctx, s, "create cart")
	if res.stops() {
		return res
	}
	cart := s.cart
	created, err := pc.CreateCart(ctx, cart.Spec.CustomerID, wireCart(&cart.Spec), createRequestID(cart.UID, cart.Status.SpecHash, replaced))
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			// A 404 on POST .../carts means the customer, not a cart, is unknown.
			return rejected("Partner Center does not know customer "+cart.Spec.CustomerID+": "+err.Error(), err)
		}
		return upstreamError(s, "create cart", err)
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
	return next()
}

// updateCart PUTs the spec's content into the upstream cart.
func (r *PartnerCartReconciler) updateCart(ctx context.Context, s *scope) phaseResult {
	pc, res := r.upstream(ctx, s, "update cart")
	if res.stops() {
		return res
	}
	cart := s.cart
	// A PUT rewrites what another process may be checking out right now (a second manager
	// whose cache is current verified and is buying it): only a current copy of the object
	// may write the cart. A stale one comes back once the cache has caught up.
	live := &pcv1alpha1.PartnerCart{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cart), live); err != nil {
		return retryOn(fmt.Errorf("read the PartnerCart before writing its cart: %w", err))
	}
	if live.ResourceVersion != s.stored.ResourceVersion {
		ctrl.LoggerFrom(ctx).Info("The cached PartnerCart is older than the API server's; not writing its cart from it")
		return staleView()
	}
	id := cart.Status.Cart.ID
	body := wireCart(&cart.Spec)
	body.ID = id
	updated, err := pc.UpdateCart(ctx, cart.Spec.CustomerID, id, body)
	if err != nil {
		if partnercenter.Classify(err) == partnercenter.ClassNotFound {
			return r.createCart(ctx, s, id)
		}
		return upstreamError(s, "update cart", err)
	}
	r.recordCart(s, updated)
	s.cartWritten = true
	r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventCartUpdated, "Updated cart %s to spec %s", id, cart.Status.SpecHash)
	return next()
}

// recordCart records the upstream cart as Partner Center answered it.
func (r *PartnerCartReconciler) recordCart(s *scope, upstream *partnercenter.Cart) {
	s.cart.Status.Cart = cartStatus(upstream, s.cart.Status.SpecHash)
	s.upstreamLines = upstream.LineItems
	errs := lineItemErrors(upstream)
	if len(errs) > 0 && !equalLineErrors(s.cart.Status.LineItemErrors, errs) {
		r.eventf(s.cart, corev1.EventTypeWarning, pcv1alpha1.EventLineItemErrors, "Partner Center rejected line items: %s", describeLineErrors(errs))
	}
	s.cart.Status.LineItemErrors = errs
}

// checkLineItems blocks everything after the cart while Partner Center rejects a line. This
// is terminal until the spec changes: no upstream call would change the answer.
func (r *PartnerCartReconciler) checkLineItems(s *scope) phaseResult {
	cart := s.cart
	if errs := cart.Status.LineItemErrors; len(errs) > 0 {
		msg := "Partner Center rejected line items: " + describeLineErrors(errs) + "; fix spec.lineItems"
		setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionFalse, pcv1alpha1.LineItemErrorsReason, msg)
		// recordCart announced the errors when they changed.
		return stall(pcv1alpha1.LineItemErrorsReason, msg).quiet()
	}
	setCondition(cart, pcv1alpha1.CartSyncedCondition, metav1.ConditionTrue, pcv1alpha1.CartSyncedReason,
		fmt.Sprintf("Cart %s matches spec %s", cart.Status.Cart.ID, cart.Status.SpecHash))
	return next()
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
