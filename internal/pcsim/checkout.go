package pcsim

import (
	"net/http"
	"time"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// checkoutOutcome is what a cart's successful checkout produced.
type checkoutOutcome struct {
	orderIDs    []string
	orderErrors []pc.OrderError
}

// checkout serves POST .../carts/{cartId}/checkout, idempotent per cart: the first call
// creates one order per order group, every later call returns those orders (with their
// current status) and creates none. A call that meets another checkout of the same cart
// in progress gets 409 800064. The cart's CheckoutFault, if any, shapes the answer.
func (s *Server) checkout(c *call) response {
	ct, resp, ok := s.findCart(c)
	if !ok {
		return resp
	}
	s.stats.checkoutReached(ct.id)
	lines, cf, resp, ok := s.claimForCheckout(ct, c.now)
	if !ok {
		return resp
	}
	s.holdCheckout(ct.id)
	outcome := s.placeOrders(ct, lines, c.now)
	ct.mu.Lock()
	ct.checkingOut = false
	ordered := len(outcome.orderIDs) > 0
	if ordered {
		// With no order at all (every group failed) the cart stays Active, so a retry tries
		// again, which is what Partner Center documents for failed orders.
		ct.outcome = outcome
		ct.status = pc.CartStatusOrdered
		ct.modified = c.now
	}
	ct.mu.Unlock()
	resp = s.shapeAnswer(s.checkoutResult(outcome), cf)
	if ordered && cf.LoseCheckoutAnswer {
		// Once per cart: only this call moves the cart to Ordered.
		s.stats.fault(faultLoseAnswer)
		resp.abort = true
	}
	return resp
}

// checkoutBeforeReplay is the checkout's guard: the faults that answer even a repeated
// MS-RequestId, modelling a Partner Center that does not (or no longer) recognise it.
// CheckoutNotFound answers every POST; RefuseRepeatCheckout answers POSTs of an ordered cart.
func (s *Server) checkoutBeforeReplay(c *call) (response, bool) {
	ct, _, ok := s.findCart(c)
	if !ok {
		return response{}, false // the handler answers 404
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	cf, ok := s.faults.checkoutFault(ct.lines)
	if !ok {
		return response{}, false
	}
	if cf.CheckoutNotFound {
		s.stats.checkoutReached(ct.id)
		s.stats.fault(faultCheckoutNotFound)
		return cartNotFound(ct.id), true
	}
	if resp, ok := s.refuseRepeat(ct, cf); ok {
		s.stats.checkoutReached(ct.id)
		return resp, true
	}
	return response{}, false
}

// refuseRepeat answers a checkout of an ordered cart with RefuseRepeatCheckout's refusal,
// if it still refuses. The caller holds ct.mu.
func (s *Server) refuseRepeat(ct *cart, cf CheckoutFault) (response, bool) {
	if ct.outcome == nil || !cf.RefuseRepeatCheckout.refuses(ct.refusedRepeat) {
		return response{}, false
	}
	ct.refusedRepeat++
	s.stats.fault(faultRefuseRepeat)
	return cf.RefuseRepeatCheckout.answer(ct.id), true
}

// claimForCheckout marks the cart as being checked out and returns its lines and checkout
// fault, or the answer that ends the call: the stored outcome of an earlier checkout (or
// its refusal), 404 if expired, 409 if busy, 400 800009 if a line has an error, or the
// refusal of RefuseFirstCheckout.
func (s *Server) claimForCheckout(ct *cart, now time.Time) ([]pc.CartLineItem, CheckoutFault, response, bool) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	cf, _ := s.faults.checkoutFault(ct.lines)
	switch {
	case ct.outcome != nil:
		if resp, ok := s.refuseRepeat(ct, cf); ok {
			return nil, cf, resp, false
		}
		return nil, cf, s.shapeAnswer(s.checkoutResult(ct.outcome), cf), false
	case ct.expired(now):
		return nil, cf, cartNotFound(ct.id), false
	case ct.checkingOut:
		return nil, cf, cartBusy(ct.id), false
	case hasLineErrors(ct.lines):
		return nil, cf, apiError(http.StatusBadRequest, codeCartLineErrors,
			"Cart %s has errors in its line items; see lineItems[].error.", ct.id), false
	case cf.RefuseFirstCheckout.refuses(ct.refusedFirst):
		ct.refusedFirst++
		s.stats.fault(faultRefuseFirst)
		return nil, cf, cf.RefuseFirstCheckout.answer(ct.id), false
	}
	ct.checkingOut = true
	return ct.lines, cf, response{}, true
}

// holdCheckout keeps the cart claimed for CheckoutDuration (and the tests' hook), the
// window in which Partner Center answers a concurrent checkout with 800064.
func (s *Server) holdCheckout(cartID string) {
	if s.checkoutHook != nil {
		s.checkoutHook(cartID)
	}
	if s.opts.CheckoutDuration > 0 {
		// Deliberately not tied to the request: a real checkout goes on when the client hangs up.
		time.Sleep(s.opts.CheckoutDuration)
	}
}

// checkoutResult renders an outcome with each order's current status.
func (s *Server) checkoutResult(o *checkoutOutcome) pc.CartCheckoutResult {
	res := pc.CartCheckoutResult{
		Orders:      make([]pc.Order, 0, len(o.orderIDs)),
		OrderErrors: o.orderErrors,
		Attributes:  &pc.ResourceAttributes{ObjectType: "CartCheckoutResult"},
	}
	now := s.now()
	for _, id := range o.orderIDs {
		if ord, ok := s.orders.get(id); ok {
			res.Orders = append(res.Orders, ord.snapshot(now, s.opts.OrderCompleteAfter))
		}
	}
	return res
}

// placeOrders creates one order per order group of the lines, or an OrderError for a group
// holding an item with a checkoutOrderError.
func (s *Server) placeOrders(ct *cart, lines []pc.CartLineItem, now time.Time) *checkoutOutcome {
	out := &checkoutOutcome{}
	for _, g := range groupLines(lines) {
		if oe := s.groupOrderError(g); oe != nil {
			out.orderErrors = append(out.orderErrors, *oe)
			continue
		}
		ord := s.newOrder(ct, g, now)
		s.orders.put(ord.wire.ID, ord)
		s.customerOrders.getOrCreate(ct.customerID, func() *orderList { return &orderList{} }).add(ord.wire.ID)
		s.allOrdersMu.Lock()
		s.allOrders = append(s.allOrders, ord)
		s.allOrdersMu.Unlock()
		out.orderIDs = append(out.orderIDs, ord.wire.ID)
	}
	s.stats.ordersCreated(ct.id, len(out.orderIDs))
	return out
}

// orderGroup is the lines of one future order, add-ons right after their parent.
type orderGroup struct {
	id    string
	lines []groupLine
}

type groupLine struct {
	line   pc.CartLineItem
	parent int // index in the group of the parent line, -1 for a base line
}

// groupLines splits lines by orderGroup, keeping the order in which groups first appear.
func groupLines(lines []pc.CartLineItem) []*orderGroup {
	var groups []*orderGroup
	byID := map[string]*orderGroup{}
	var add func(li pc.CartLineItem, parent int)
	add = func(li pc.CartLineItem, parent int) {
		g := byID[li.OrderGroup]
		if g == nil {
			g = &orderGroup{id: li.OrderGroup}
			byID[li.OrderGroup] = g
			groups = append(groups, g)
		}
		g.lines = append(g.lines, groupLine{line: li, parent: parent})
		self := len(g.lines) - 1
		for _, a := range li.AddonItems {
			add(a, self)
		}
	}
	for _, li := range lines {
		add(li, -1)
	}
	return groups
}

func (s *Server) groupOrderError(g *orderGroup) *pc.OrderError {
	for _, gl := range g.lines {
		item, _ := s.catalog.lookup(gl.line.CatalogItemID)
		if item == nil || item.CheckoutOrderError == nil {
			continue
		}
		oe := pc.OrderError{
			OrderGroupID: g.id,
			Code:         pc.FlexibleInt(item.CheckoutOrderError.Code),
			Description:  item.CheckoutOrderError.Description,
		}
		if oe.Code == 0 {
			oe.Code = codeOrderError
		}
		if oe.Description == "" {
			oe.Description = "Inventory is not available for " + item.CatalogItemID + "."
		}
		return &oe
	}
	return nil
}
