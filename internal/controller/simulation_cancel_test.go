package controller

// The cancellation part of the checkout simulation (issue 23): Partner Center's subscriptions,
// the people who request, approve and withdraw cancellations (and a tenant who types an
// approval while the policies are gone), and invariant I6, checked at every cancellation call:
// a subscription is cancelled only if the cart whose request cancels it bought it, only while
// that cart carries an approval an approver gave, only inside the window, at most once (no
// call ever reaches a subscription already cancelled), and, at the end, every cancellation is
// recorded in its cart's status or in a cancellation receipt.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// simCancellationWindow is how long after provisioning Partner Center allows a cancellation.
const simCancellationWindow = 168 * time.Hour

// pcSub is a subscription as the Partner Center model holds it.
type pcSub struct {
	ID, OrderID string
	Created     time.Time
	Cancelled   bool
	// CancelledBy is the MS-RequestId of the call that cancelled it.
	CancelledBy string
}

// subscription is the subscription of an order line, made when the order shows it.
func (p *simPC) subscription(orderID string, line int, provisioned time.Time) *pcSub {
	id := fmt.Sprintf("sub-%s-%d", orderID, line)
	if p.subs == nil {
		p.subs = map[string]*pcSub{}
	}
	if s := p.subs[id]; s != nil {
		return s
	}
	s := &pcSub{ID: id, OrderID: orderID, Created: provisioned}
	p.subs[id] = s
	return s
}

func (p *simPC) wireSub(s *pcSub) *partnercenter.Subscription {
	out := &partnercenter.Subscription{ID: s.ID, OrderID: s.OrderID, Status: partnercenter.SubscriptionActive,
		CancellationAllowedUntilDate: s.Created.Add(simCancellationWindow).UTC().Format(time.RFC3339),
		RefundOptions: []partnercenter.RefundOption{
			{Type: partnercenter.RefundFull, ExpiresAt: s.Created.Add(24 * time.Hour).UTC().Format(time.RFC3339)},
			{Type: partnercenter.RefundPartial, ExpiresAt: s.Created.Add(simCancellationWindow).UTC().Format(time.RFC3339)}}}
	if s.Cancelled {
		out.Status = partnercenter.SubscriptionDeleted
	}
	return out
}

func (p *simPC) getSubscription(_ context.Context, _, id string) (*partnercenter.Subscription, error) {
	p.w.pcCall("GetSubscription")
	if err := p.transientFault(partnercenter.OpGetSubscription); err != nil {
		return nil, err
	}
	s := p.subs[id]
	if s == nil {
		return nil, apiErr(partnercenter.OpGetSubscription, http.StatusNotFound, "", "subscription not found")
	}
	return p.wireSub(s), nil
}

// cancelSubscription is Partner Center's PATCH to status "deleted", with I6 checked on every
// call that reaches it.
func (p *simPC) cancelSubscription(_ context.Context, _ string, sent *partnercenter.Subscription, requestID string) (*partnercenter.Subscription, error) {
	w := p.w
	w.pcCall("CancelSubscription")
	if err := p.transientFault(partnercenter.OpCancelSubscription); err != nil {
		w.tracef("  pc: CancelSubscription %s -> %v (not processed)", sent.ID, err)
		return nil, err
	}
	s := p.subs[sent.ID]
	if s == nil {
		return nil, apiErr(partnercenter.OpCancelSubscription, http.StatusNotFound, "", "subscription not found")
	}
	w.checkCancellation(s, requestID)
	if s.Cancelled {
		w.tracef("  pc: CancelSubscription %s -> 400 900279 (already cancelled)", s.ID)
		return nil, apiErr(partnercenter.OpCancelSubscription, http.StatusBadRequest, partnercenter.CodeSubscriptionNoUpdates, "Update operations are no longer allowed for this subscription.")
	}
	if !w.clk.Now().Before(s.Created.Add(simCancellationWindow)) {
		w.tracef("  pc: CancelSubscription %s -> 400 900213 (window closed)", s.ID)
		return nil, apiErr(partnercenter.OpCancelSubscription, http.StatusBadRequest, partnercenter.CodeCancellationWindowHours,
			"You have passed your 168-hour cancellation window. We are unable to cancel your purchase")
	}
	s.Cancelled, s.CancelledBy = true, requestID
	w.tracef("  pc: CancelSubscription %s processed: CANCELLED (request %s)", s.ID, short(requestID))
	if w.chance(w.prof.pcDrop) {
		w.tracef("  pc: CancelSubscription answer lost (connection reset after processing)")
		return nil, &partnercenter.TransportError{Operation: partnercenter.OpCancelSubscription, RequestID: requestID, Err: errors.New("connection reset by peer")}
	}
	return p.wireSub(s), nil
}

// cancellingCart is the live cart whose cancellation request ID requestID is for s.
func (w *simWorld) cancellingCart(s *pcSub, requestID string) *pcv1alpha1.PartnerCart {
	for _, c := range w.liveCarts() {
		if requestID == requestIDFor(c.UID, s.ID) {
			return c
		}
	}
	return nil
}

func requestIDFor(uid types.UID, subID string) string { return requestID(uid, "cancel", subID) }

// checkCancellation is I6 at a call that reaches Partner Center.
func (w *simWorld) checkCancellation(s *pcSub, requestID string) {
	if s.Cancelled {
		w.violate("I6", "a cancellation call (request %s) reached subscription %s, already cancelled by request %s: at most once, read before any repeat",
			short(requestID), s.ID, short(s.CancelledBy))
		return
	}
	c := w.cancellingCart(s, requestID)
	if c == nil {
		w.violate("I6", "subscription %s is being cancelled by request %s, which no live cart makes", s.ID, short(requestID))
		return
	}
	var buyer string
	for _, o := range w.pc.orders {
		if o.Order.ID == s.OrderID {
			if rec := w.pc.checkouts[o.RequestID]; rec != nil {
				buyer = rec.OwnerUID
			}
		}
	}
	// A cart restored with its status (a backup) carries its predecessor's purchase record and
	// may undo it: the same name, and so the same purchase, never another cart's.
	if inc := w.incarnations[types.UID(buyer)]; buyer != string(c.UID) && (inc == nil || inc.name != c.Name) {
		w.violate("I6", "%s cancels subscription %s of order %s, which it did not buy (bought by object %s)", c.Name, s.ID, s.OrderID, buyer)
		return
	}
	req := c.Spec.Cancellation
	if req == nil || !req.Requested || !req.Approved || req.ApprovedBy != simApprover || w.forgedCancel[c.UID] {
		w.violate("I6", "%s cancels subscription %s without a cancellation an approver approved (spec.cancellation: %+v)", c.Name, s.ID, req)
		return
	}
	if st := c.Status.Cancellation; st == nil || !slices.ContainsFunc(st.Subscriptions, func(t pcv1alpha1.SubscriptionCancellation) bool {
		return t.SubscriptionID == s.ID && t.RequestID == requestID && t.Attempts > 0
	}) {
		w.violate("I6", "%s's cancellation call of %s (request %s) was not persisted before it was made", c.Name, s.ID, short(requestID))
	}
}

// pickLiveWhere picks one of the live carts that match.
func (w *simWorld) pickLiveWhere(match func(*pcv1alpha1.PartnerCart) bool) *pcv1alpha1.PartnerCart {
	carts := slices.DeleteFunc(w.liveCarts(), func(c *pcv1alpha1.PartnerCart) bool { return !match(c) })
	if len(carts) == 0 {
		return nil
	}
	return carts[w.rng.IntN(len(carts))]
}

// simApprover is who the simulation's approvers are.
const simApprover = "approver@example.com"

// actRequestCancellation is a tenant asking to cancel a bought cart (kubectl partnercart
// cancel, or spec.cancellation in Git): all lines, or the first. A changed request withdraws an
// approval, as admission does; once the operator started, the request is frozen.
func (w *simWorld) actRequestCancellation() bool {
	c := w.pickLiveWhere(func(c *pcv1alpha1.PartnerCart) bool {
		return c.Status.Checkout != nil && c.Status.Checkout.Outcome.Final() && c.Status.Cancellation == nil && c.Spec.Cancellation == nil
	})
	if c == nil {
		return false
	}
	var lines []int32
	if w.chance(0.3) {
		lines = []int32{c.Spec.LineItems[0].ID}
	}
	ok := w.edit(c.Name, true, true, func(c *pcv1alpha1.PartnerCart) {
		if c.Status.Cancellation != nil {
			return
		}
		c.Spec.Cancellation = &pcv1alpha1.Cancellation{Requested: true, LineItems: lines, Reason: "bought by mistake",
			RequestedBy: "tenant@example.com", RequestedAt: w.clk.Now().UTC().Format(time.RFC3339)}
		delete(w.forgedCancel, c.UID)
	})
	if ok {
		w.tracef("tenant requests the cancellation of %s (lines %v)", c.Name, lines)
	}
	return ok
}

// actApproveCancellation is an approver approving a requested cancellation, stamped.
func (w *simWorld) actApproveCancellation() bool {
	c := w.pickLiveWhere(func(c *pcv1alpha1.PartnerCart) bool {
		return c.Spec.Cancellation != nil && c.Spec.Cancellation.Requested && !c.Spec.Cancellation.Approved && c.Status.Cancellation == nil
	})
	if c == nil {
		return false
	}
	ok := w.edit(c.Name, true, true, func(c *pcv1alpha1.PartnerCart) {
		if c.Spec.Cancellation == nil || c.Status.Cancellation != nil {
			return
		}
		c.Spec.Cancellation.Approved = true
		c.Spec.Cancellation.ApprovedBy, c.Spec.Cancellation.ApprovedAt = simApprover, w.clk.Now().UTC().Format(time.RFC3339)
		delete(w.forgedCancel, c.UID)
	})
	if ok {
		w.tracef("approver approves the cancellation of %s", c.Name)
	}
	return ok
}

// actWithdrawCancellation withdraws a cancellation (its approval, or the request) before the
// operator started it.
func (w *simWorld) actWithdrawCancellation() bool {
	c := w.pickLive()
	if c == nil || c.Spec.Cancellation == nil || c.Status.Cancellation != nil {
		return false
	}
	all := w.chance(0.5)
	ok := w.edit(c.Name, true, true, func(c *pcv1alpha1.PartnerCart) {
		if c.Spec.Cancellation == nil || c.Status.Cancellation != nil {
			return
		}
		if all {
			c.Spec.Cancellation = nil
			return
		}
		c.Spec.Cancellation.Approved = false
		c.Spec.Cancellation.ApprovedBy, c.Spec.Cancellation.ApprovedAt = simApprover, w.clk.Now().UTC().Format(time.RFC3339)
	})
	if ok {
		w.tracef("person withdraws the cancellation of %s (request too: %t)", c.Name, all)
	}
	return ok
}

// actTenantApprovesCancellation is an editor typing an approval of a cancellation, stamps
// included, which only gets past admission while the policies are gone.
func (w *simWorld) actTenantApprovesCancellation() bool {
	if !w.policiesGone {
		return false
	}
	c := w.pickLive()
	if c == nil || c.Spec.Cancellation == nil || c.Status.Cancellation != nil {
		return false
	}
	ok := w.edit(c.Name, false, true, func(c *pcv1alpha1.PartnerCart) {
		if c.Spec.Cancellation == nil {
			return
		}
		c.Spec.Cancellation.Approved = true
		c.Spec.Cancellation.ApprovedBy, c.Spec.Cancellation.ApprovedAt = simApprover, w.clk.Now().UTC().Format(time.RFC3339)
		w.forgedCancel[c.UID] = true
	})
	if ok {
		w.tracef("tenant types an approval of the cancellation of %s while the policies are gone", c.Name)
	}
	return ok
}

// checkCancellationsRecorded is I6's record part, at the end: every subscription cancelled
// by a request of the operator is recorded as Cancelled in a live cart's status or in a
// cancellation receipt.
func (w *simWorld) checkCancellationsRecorded(carts []*pcv1alpha1.PartnerCart) {
	var list corev1.ConfigMapList
	must(w.api.List(context.Background(), &list, client.InNamespace(simReceiptNamespace), client.HasLabels{pcv1alpha1.CancellationReceiptLabel}))
	for _, id := range sortedKeys(w.pc.subs) {
		s := w.pc.subs[id]
		if !s.Cancelled {
			continue
		}
		recorded := slices.ContainsFunc(carts, func(c *pcv1alpha1.PartnerCart) bool {
			return c.Status.Cancellation != nil && slices.ContainsFunc(c.Status.Cancellation.Subscriptions, func(t pcv1alpha1.SubscriptionCancellation) bool {
				return t.SubscriptionID == id && t.Outcome == pcv1alpha1.CancellationCancelled
			})
		}) || slices.ContainsFunc(list.Items, func(cm corev1.ConfigMap) bool {
			return slices.Contains(splitNonEmpty(cm.Data["cancelledSubscriptionIds"]), id)
		})
		if !recorded {
			w.violate("I6", "subscription %s was cancelled (request %s) but no status and no cancellation receipt records it", id, short(s.CancelledBy))
			return
		}
	}
}

func splitNonEmpty(s string) []string {
	return slices.DeleteFunc(strings.Split(s, ","), func(p string) bool { return p == "" })
}
