package pcsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Subscription windows of New-Commerce purchases: a cancellation within the Full window is
// refunded in full, within the cancellation window in part, and none is allowed after it.
const (
	CancellationWindow = 168 * time.Hour
	FullRefundWindow   = 24 * time.Hour
)

// Partner Center error codes of the subscription endpoints.
const (
	codeSubscriptionNotFound  = 20003  // 404: subscription not found (error-codes.md, NotFound 20003)
	codeSubscriptionNotReady  = 800082 // 409: subscription not ready to update; try later
	codeCancellationWindow    = 900213 // 400: passed the 168-hour cancellation window
	codeSubscriptionNoUpdates = 900279 // 400: update operations no longer allowed
	codeReductionWindow       = 900214 // 400: passed the window to reduce licenses
	codeSubscriptionPendingOp = 900278 // 409: a pending operation; try again after 24 hours
)

// Descriptions pcsim answers with; the first is Partner Center's wording.
const (
	descCancellationWindow = "You have passed your 168-hour cancellation window. We are unable to cancel your purchase"
	descNoUpdates          = "Update operations are no longer allowed on this subscription."
	descReductionWindow    = "You have passed your 168-hour window to reduce licenses. We are unable to reduce the quantity of your purchase"
	descNotReady           = "Subscription is not ready to be updated. Try again later."
)

// SubscriptionFault is a set of deterministic faults of the PATCHes of one subscription,
// keyed in Faults.SubscriptionFaults by subscription ID or by offer ID (the catalog item ID
// the order line bought); a subscription ID key wins. Precedence within one PATCH: NotReady,
// then Refuse, then the PATCH runs and LoseAnswer drops the answer of the cancellation.
type SubscriptionFault struct {
	// NotReady answers the first NotReady PATCHes of each affected subscription 409 800082
	// (retryable), changing nothing. The count is per subscription and not reset by SetFaults.
	NotReady int `json:"notReady,omitempty"`
	// Refuse answers every PATCH with this Partner Center error code (digits), changing
	// nothing: 409 for 800082 and 900278, 400 for any other code.
	Refuse string `json:"refuse,omitempty"`
	// LoseAnswer applies the cancellation (the subscription is deleted, counted and its
	// answer stored for MS-RequestId replay) and then closes the connection with no answer,
	// so the caller does not learn the outcome. It fires for the PATCH that cancels.
	LoseAnswer bool `json:"loseAnswer,omitempty"`
}

// Validate checks that NotReady is not negative and Refuse is a numeric code.
func (f SubscriptionFault) Validate() error {
	if f.NotReady < 0 {
		return fmt.Errorf("notReady must not be negative, got %d", f.NotReady)
	}
	if f.Refuse != "" && strings.Trim(f.Refuse, "0123456789") != "" {
		return fmt.Errorf("refuse must be a numeric Partner Center error code, got %q", f.Refuse)
	}
	return nil
}

func validateSubscriptionFaults(fs map[string]SubscriptionFault) error {
	for key, f := range fs {
		if key == "" {
			return fmt.Errorf("subscriptionFaults: the subscription or offer ID must not be empty")
		}
		if err := f.Validate(); err != nil {
			return fmt.Errorf("subscriptionFaults[%q]: %w", key, err)
		}
	}
	return nil
}

// SetSubscriptionFault sets the subscription fault of one key (a subscription ID or an
// offer ID) from the next request on, leaving the other faults as they are; the zero
// SubscriptionFault removes it. An invalid fault is a bug in the test and panics.
func (s *Server) SetSubscriptionFault(key string, f SubscriptionFault) {
	if err := validateSubscriptionFaults(map[string]SubscriptionFault{key: f}); err != nil {
		panic("pcsim: SetSubscriptionFault: " + err.Error())
	}
	s.faults.setSubscriptionFault(key, f)
}

// subscription is a stored subscription. mu guards every field but the IDs.
type subscription struct {
	mu sync.Mutex

	id, customerID, orderID, offerID, parentID string
	friendlyName, billingCycle, termDuration   string
	currency                                   string
	unitCents                                  int64

	quantity int
	status   string
	// purchased is the purchase (the order's creation); the windows run from it.
	purchased     time.Time
	commitmentEnd time.Time
	cancelledAt   time.Time
	refund        string
	// notReadyGiven counts the 409s SubscriptionFault.NotReady answered.
	notReadyGiven int
}

func (sub *subscription) windowEnd() time.Time     { return sub.purchased.Add(CancellationWindow) }
func (sub *subscription) fullRefundEnd() time.Time { return sub.purchased.Add(FullRefundWindow) }

// subscriptionWire is the resource as pcsim serves it. Some fields are ones the operator's
// model does not name (contractType, links, attributes, ...): a PATCH must send them back.
type subscriptionWire struct {
	ID                           string                `json:"id"`
	OfferID                      string                `json:"offerId"`
	OfferName                    string                `json:"offerName"`
	FriendlyName                 string                `json:"friendlyName"`
	Quantity                     int                   `json:"quantity"`
	UnitType                     string                `json:"unitType"`
	ParentSubscriptionID         string                `json:"parentSubscriptionId,omitempty"`
	CreationDate                 string                `json:"creationDate"`
	EffectiveStartDate           string                `json:"effectiveStartDate"`
	CommitmentEndDate            string                `json:"commitmentEndDate"`
	Status                       string                `json:"status"`
	AutoRenewEnabled             bool                  `json:"autoRenewEnabled"`
	IsTrial                      bool                  `json:"isTrial"`
	BillingType                  string                `json:"billingType"`
	BillingCycle                 string                `json:"billingCycle"`
	TermDuration                 string                `json:"termDuration"`
	RenewalTermDuration          string                `json:"renewalTermDuration"`
	IsMicrosoftProduct           bool                  `json:"isMicrosoftProduct"`
	PublisherName                string                `json:"publisherName"`
	ContractType                 string                `json:"contractType"`
	OrderID                      string                `json:"orderId"`
	CancellationAllowedUntilDate string                `json:"cancellationAllowedUntilDate"`
	RefundOptions                []pc.RefundOption     `json:"refundOptions"`
	Actions                      []string              `json:"actions"`
	Links                        map[string]pc.Link    `json:"links"`
	Attributes                   pc.ResourceAttributes `json:"attributes"`
}

// wire renders the subscription as of now. The caller holds sub.mu.
func (sub *subscription) wire(now time.Time) subscriptionWire {
	deleted := sub.status == pc.SubscriptionDeleted
	w := subscriptionWire{
		ID: sub.id, OfferID: sub.offerID, OfferName: sub.friendlyName, FriendlyName: sub.friendlyName,
		Quantity: sub.quantity, UnitType: "Licenses", ParentSubscriptionID: sub.parentID,
		CreationDate: timestamp(sub.purchased), EffectiveStartDate: timestamp(sub.purchased),
		CommitmentEndDate: timestamp(sub.commitmentEnd), Status: sub.status, AutoRenewEnabled: !deleted,
		BillingType: "license", BillingCycle: sub.billingCycle, TermDuration: sub.termDuration,
		RenewalTermDuration: sub.termDuration, IsMicrosoftProduct: true, PublisherName: "Microsoft Corporation",
		ContractType: "subscription", OrderID: sub.orderID,
		CancellationAllowedUntilDate: timestamp(sub.windowEnd()),
		RefundOptions:                []pc.RefundOption{},
		Actions:                      []string{},
	}
	if !deleted {
		for _, r := range []struct {
			kind string
			end  time.Time
		}{{pc.RefundFull, sub.fullRefundEnd()}, {pc.RefundPartial, sub.windowEnd()}} {
			if now.Before(r.end) {
				w.RefundOptions = append(w.RefundOptions, pc.RefundOption{Type: r.kind, ExpiresAt: timestamp(r.end)})
			}
		}
		w.Actions = append(w.Actions, "edit")
		if now.Before(sub.windowEnd()) {
			w.Actions = append(w.Actions, "cancel")
		}
	}
	self := "/customers/" + sub.customerID + "/subscriptions/" + sub.id
	w.Links = map[string]pc.Link{
		"self":  {URI: self, Method: http.MethodGet, Headers: []pc.KeyValuePair{}},
		"offer": {URI: "/offers/" + sub.offerID + "?country=US", Method: http.MethodGet, Headers: []pc.KeyValuePair{}},
		"order": {URI: "/customers/" + sub.customerID + "/orders/" + sub.orderID, Method: http.MethodGet, Headers: []pc.KeyValuePair{}},
	}
	if sub.parentID != "" {
		w.Links["parentSubscription"] = pc.Link{URI: "/customers/" + sub.customerID + "/subscriptions/" + sub.parentID,
			Method: http.MethodGet, Headers: []pc.KeyValuePair{}}
	}
	w.Attributes = pc.ResourceAttributes{ObjectType: "Subscription"}
	return w
}

// provisionSubscriptions stores a subscription for every line of a completed order that
// got a subscription ID. It runs under o.mu (order.complete).
func (s *Server) provisionSubscriptions(o *order) {
	for _, li := range o.wire.LineItems {
		if li.SubscriptionID == "" {
			continue
		}
		sub := &subscription{
			id: li.SubscriptionID, customerID: o.customerID, orderID: o.wire.ID, offerID: li.OfferID,
			parentID: li.ParentSubscriptionID, friendlyName: li.FriendlyName, billingCycle: o.wire.BillingCycle,
			termDuration: li.TermDuration, currency: o.wire.CurrencyCode, quantity: li.Quantity,
			status: pc.SubscriptionActive, purchased: o.created, commitmentEnd: o.created,
		}
		if months, ok := termMonths(li.TermDuration); ok {
			sub.commitmentEnd = o.created.AddDate(0, int(months), 0)
		}
		if li.Pricing != nil {
			sub.unitCents, _ = parseCents(li.Pricing.Price.String()) // written by formatCents
		}
		s.subscriptions.put(sub.id, sub)
		s.allSubsMu.Lock()
		s.allSubs = append(s.allSubs, sub)
		s.allSubsMu.Unlock()
	}
}

// findSubscription returns the customer's subscription, or Partner Center's 404.
func (s *Server) findSubscription(c *call, id string) (*subscription, response, bool) {
	sub, ok := s.subscriptions.get(id)
	if !ok || !strings.EqualFold(sub.customerID, c.customerID) {
		return nil, apiError(http.StatusNotFound, codeSubscriptionNotFound,
			"Subscription with Id %s not found for customer %s.", id, c.customerID), false
	}
	return sub, response{}, true
}

// getSubscription serves GET .../subscriptions/{subscriptionId}.
func (s *Server) getSubscription(c *call) response {
	sub, resp, ok := s.findSubscription(c, c.r.PathValue("subscriptionId"))
	if !ok {
		return resp
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return response{status: http.StatusOK, body: sub.wire(c.now)}
}

// listSubscriptions serves GET .../subscriptions[?order_id=X]: the subscriptions of one
// order of the customer (none for an order of another customer or unknown), or all of the
// customer's subscriptions, oldest first, in one page.
func (s *Server) listSubscriptions(c *call) response {
	orderID := c.r.URL.Query().Get("order_id")
	var subs []*subscription
	if orderID != "" {
		if o, ok := s.orders.get(orderID); ok && o.customerID == c.customerID {
			for _, li := range o.snapshot(c.now, s.opts.OrderCompleteAfter).LineItems {
				if sub, ok := s.subscriptions.get(li.SubscriptionID); ok && li.SubscriptionID != "" {
					subs = append(subs, sub)
				}
			}
		}
	} else {
		if l, ok := s.customerOrders.get(c.customerID); ok {
			for _, id := range l.list() {
				if o, ok := s.orders.get(id); ok {
					o.snapshot(c.now, s.opts.OrderCompleteAfter) // completes due orders
				}
			}
		}
		for _, sub := range s.allSubscriptions() {
			if sub.customerID == c.customerID {
				subs = append(subs, sub)
			}
		}
	}
	self := "/customers/" + c.customerID + "/subscriptions"
	if orderID != "" {
		self += "?order_id=" + orderID
	}
	coll := struct {
		TotalCount int                   `json:"totalCount"`
		Items      []subscriptionWire    `json:"items"`
		Links      pc.ResourceLinks      `json:"links"`
		Attributes pc.ResourceAttributes `json:"attributes"`
	}{
		Items:      make([]subscriptionWire, 0, len(subs)),
		Links:      pc.ResourceLinks{Self: &pc.Link{URI: self, Method: http.MethodGet, Headers: []pc.KeyValuePair{}}},
		Attributes: pc.ResourceAttributes{ObjectType: "Collection"},
	}
	for _, sub := range subs {
		sub.mu.Lock()
		coll.Items = append(coll.Items, sub.wire(c.now))
		sub.mu.Unlock()
	}
	coll.TotalCount = len(coll.Items)
	return response{status: http.StatusOK, body: coll}
}

func (s *Server) allSubscriptions() []*subscription {
	s.allSubsMu.Lock()
	defer s.allSubsMu.Unlock()
	return slices.Clone(s.allSubs)
}

// patchSubscription serves PATCH .../subscriptions/{subscriptionId}: the body is the whole
// subscription as read, with status "deleted" to cancel or another quantity to change it.
func (s *Server) patchSubscription(c *call) response {
	id := c.r.PathValue("subscriptionId")
	sub, resp, ok := s.findSubscription(c, id)
	if !ok {
		return resp
	}
	var body map[string]json.RawMessage
	if err := decodeBody(c.r, &body); err != nil {
		return apiError(http.StatusBadRequest, codeInvalidInput, "The subscription in the body is not valid: %v.", err)
	}
	var in struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Quantity *int   `json:"quantity"`
	}
	raw, _ := json.Marshal(body) // a map of raw messages decoded from JSON re-encodes
	if err := json.Unmarshal(raw, &in); err != nil {
		return apiError(http.StatusBadRequest, codeInvalidInput, "The subscription in the body is not valid: %v.", err)
	}
	if !strings.EqualFold(in.ID, sub.id) {
		return apiError(http.StatusBadRequest, codeInvalidInput,
			"The subscription ID in the body (%q) does not match the subscription ID in the path (%s).", in.ID, id)
	}

	sub.mu.Lock()
	defer sub.mu.Unlock()
	if missing := missingFields(sub.wire(c.now), body); len(missing) > 0 {
		return apiError(http.StatusBadRequest, codeInvalidInput,
			"The body must be the whole subscription as read; it lacks %s.", strings.Join(missing, ", "))
	}
	f, _ := s.faults.subscriptionFault(sub.id, sub.offerID)
	if sub.notReadyGiven < f.NotReady {
		sub.notReadyGiven++
		s.stats.fault(faultSubNotReady)
		return apiError(http.StatusConflict, codeSubscriptionNotReady, descNotReady)
	}
	if f.Refuse != "" {
		s.stats.fault(faultSubRefuse)
		return subscriptionRefusal(f.Refuse)
	}
	wantDeleted := strings.EqualFold(in.Status, pc.SubscriptionDeleted)
	if sub.status == pc.SubscriptionDeleted {
		if wantDeleted {
			s.stats.duplicateCancel()
		}
		return apiError(http.StatusBadRequest, codeSubscriptionNoUpdates, descNoUpdates)
	}
	switch {
	case wantDeleted:
		if !c.now.Before(sub.windowEnd()) {
			return apiError(http.StatusBadRequest, codeCancellationWindow, descCancellationWindow)
		}
		s.cancel(sub, c.now)
		resp := response{status: http.StatusOK, body: sub.wire(c.now)}
		if f.LoseAnswer {
			s.stats.fault(faultSubLoseAnswer)
			resp.abort = true
		}
		return resp
	case in.Status == "" || strings.EqualFold(in.Status, sub.status):
	default:
		return apiError(http.StatusBadRequest, codeInvalidInput,
			"pcsim does not change a subscription's status to %q; only \"deleted\" (cancel) is supported.", in.Status)
	}
	if in.Quantity != nil && *in.Quantity != sub.quantity {
		switch q := *in.Quantity; {
		case q < 1:
			return apiError(http.StatusBadRequest, codeInvalidInput, "The quantity must be at least 1, got %d.", q)
		case q < sub.quantity && !c.now.Before(sub.windowEnd()):
			return apiError(http.StatusBadRequest, codeReductionWindow, descReductionWindow)
		}
		sub.quantity = *in.Quantity
	}
	return response{status: http.StatusOK, body: sub.wire(c.now)}
}

// cancel deletes the subscription and records its refund. The caller holds sub.mu.
func (s *Server) cancel(sub *subscription, now time.Time) {
	sub.status = pc.SubscriptionDeleted
	sub.cancelledAt = now
	sub.refund = pc.RefundPartial
	rec := RefundRecord{
		SubscriptionID: sub.id, CustomerID: sub.customerID, OrderID: sub.orderID, OfferID: sub.offerID,
		Type: pc.RefundPartial, Currency: sub.currency, CancelledAt: timestamp(now),
	}
	var cents int64
	if now.Before(sub.fullRefundEnd()) {
		sub.refund, rec.Type = pc.RefundFull, pc.RefundFull
		cents = sub.unitCents * int64(sub.quantity)
		rec.Amount = formatCents(cents).String()
	}
	s.stats.cancelled(rec, cents)
}

// missingFields lists the top-level fields of the resource the body does not carry.
func missingFields(w subscriptionWire, body map[string]json.RawMessage) []string {
	b, err := json.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("pcsim: encode subscription: %v", err))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		panic(fmt.Sprintf("pcsim: decode own subscription: %v", err))
	}
	var missing []string
	for k := range fields {
		if _, ok := body[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	return missing
}

// subscriptionRefusal is SubscriptionFault.Refuse's answer.
func subscriptionRefusal(code string) response {
	var n int
	_, _ = fmt.Sscan(code, &n) // validated digits
	status, desc := http.StatusBadRequest, fmt.Sprintf("The subscription update was refused with code %s (injected by pcsim).", code)
	switch n {
	case codeSubscriptionNotReady:
		status, desc = http.StatusConflict, descNotReady
	case codeSubscriptionPendingOp:
		status, desc = http.StatusConflict, "The subscription has a pending operation. Try again after 24 hours."
	case codeCancellationWindow:
		desc = descCancellationWindow
	case codeSubscriptionNoUpdates:
		desc = descNoUpdates
	case codeReductionWindow:
		desc = descReductionWindow
	}
	return apiError(status, n, "%s", desc)
}

// SubscriptionRecord is one subscription as Subscriptions() and /_pcsim/subscriptions
// report it.
type SubscriptionRecord struct {
	SubscriptionID               string `json:"subscriptionId"`
	CustomerID                   string `json:"customerId"`
	OrderID                      string `json:"orderId"`
	OfferID                      string `json:"offerId"`
	Quantity                     int    `json:"quantity"`
	Status                       string `json:"status"`
	CreationDate                 string `json:"creationDate"`
	CancellationAllowedUntilDate string `json:"cancellationAllowedUntilDate"`
	// Refund is the refund of the cancellation (Full or Partial), "" while not cancelled.
	Refund string `json:"refund,omitempty"`
}

// Subscriptions returns every subscription, completing the orders that are due first, in
// creation order.
func (s *Server) Subscriptions() []SubscriptionRecord {
	s.Orders() // completes due orders, which provisions their subscriptions
	subs := s.allSubscriptions()
	out := make([]SubscriptionRecord, 0, len(subs))
	for _, sub := range subs {
		sub.mu.Lock()
		out = append(out, SubscriptionRecord{
			SubscriptionID: sub.id, CustomerID: sub.customerID, OrderID: sub.orderID, OfferID: sub.offerID,
			Quantity: sub.quantity, Status: sub.status, CreationDate: timestamp(sub.purchased),
			CancellationAllowedUntilDate: timestamp(sub.windowEnd()), Refund: sub.refund,
		})
		sub.mu.Unlock()
	}
	return out
}

// BackdateSubscription moves a subscription's purchase, and with it its creation date,
// commitment end, refund options and cancellation window, d earlier, so that a test can
// close the window without waiting. It reports whether the subscription exists.
func (s *Server) BackdateSubscription(id string, d time.Duration) bool {
	sub, ok := s.subscriptions.get(id)
	if !ok {
		return false
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.purchased = sub.purchased.Add(-d)
	sub.commitmentEnd = sub.commitmentEnd.Add(-d)
	return true
}
