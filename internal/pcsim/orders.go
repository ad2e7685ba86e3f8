package pcsim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// order is a stored order. mu guards wire and completed; the rest is immutable.
type order struct {
	mu         sync.Mutex
	wire       pc.Order
	completed  bool
	cartID     string
	customerID string
	created    time.Time
	// finalStatus is what the order becomes after OrderCompleteAfter.
	finalStatus string
	// parents[i] is the line index of line i's parent (add-ons), or -1.
	parents []int
	// provisions[i] says whether line i gets a subscription at completion.
	provisions []bool
	// onComplete, if set, runs once when the order completes, under mu, after the lines got
	// their subscription IDs (the server stores the subscriptions: subscriptions.go).
	onComplete func(o *order)
}

// orderList is one customer's order IDs in creation order.
type orderList struct {
	mu  sync.Mutex
	ids []string
}

func (l *orderList) add(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = append(l.ids, id)
}

func (l *orderList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

// OrderRecord is one order as Orders() and /_pcsim/orders report it.
type OrderRecord struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	CartID     string `json:"cartId"`
	Status     string `json:"status"`
	TotalPrice string `json:"totalPrice"`
}

// Orders returns every order ever created, oldest first, with its current status.
func (s *Server) Orders() []OrderRecord {
	s.allOrdersMu.Lock()
	all := slices.Clone(s.allOrders)
	s.allOrdersMu.Unlock()
	now := s.now()
	out := make([]OrderRecord, 0, len(all))
	for _, o := range all {
		w := o.snapshot(now, s.opts.OrderCompleteAfter)
		out = append(out, OrderRecord{
			OrderID: w.ID, CustomerID: o.customerID, CartID: o.cartID, Status: w.Status, TotalPrice: w.TotalPrice.String(),
		})
	}
	return out
}

// newOrderID returns an opaque 16-character ID like Partner Center's ("a68736758d9c").
func newOrderID() string {
	return strings.ToLower(rand.Text()[:16])
}

// newOrder builds a pending order from one order group.
func (s *Server) newOrder(ct *cart, g *orderGroup, now time.Time) *order {
	id := newOrderID()
	o := &order{cartID: ct.id, customerID: ct.customerID, created: now, finalStatus: pc.OrderStatusCompleted}
	var total int64
	for i, gl := range g.lines {
		li := gl.line
		item, _ := s.catalog.lookup(li.CatalogItemID)
		if item != nil && item.OrderFinalStatus != "" && o.finalStatus == pc.OrderStatusCompleted {
			o.finalStatus = item.OrderFinalStatus
		}
		o.parents = append(o.parents, gl.parent)
		o.provisions = append(o.provisions, item == nil || item.OrderFinalStatus == "")
		if li.Pricing != nil {
			c, _ := parseCents(li.Pricing.ExtendedPrice.String()) // written by formatCents
			total += c
		}
		o.wire.LineItems = append(o.wire.LineItems, orderLine(i, li, item))
	}
	o.wire.ID, o.wire.AlternateID = id, id
	o.wire.ReferenceCustomerID = ct.customerID
	o.wire.BillingCycle = g.lines[0].line.BillingCycle
	o.wire.CurrencyCode, o.wire.CurrencySymbol = "USD", "$"
	o.wire.CreationDate = timestamp(now)
	o.wire.Status = pc.OrderStatusPending
	o.wire.TransactionType = "UserPurchase"
	o.wire.TotalPrice = formatCents(total)
	o.wire.Client = &pc.ClientContext{}
	self := "/customers/" + ct.customerID + "/orders/" + id
	o.wire.Links = &pc.OrderLinks{
		Self:               &pc.Link{URI: self, Method: http.MethodGet, Headers: []pc.KeyValuePair{}},
		ProvisioningStatus: &pc.Link{URI: self + "/provisioningstatus", Method: http.MethodGet, Headers: []pc.KeyValuePair{}},
	}
	o.wire.Attributes = &pc.ResourceAttributes{ObjectType: "Order"}
	o.onComplete = s.provisionSubscriptions
	return o
}

func orderLine(n int, li pc.CartLineItem, item *CatalogItem) pc.OrderLineItem {
	name := li.FriendlyName
	if name == "" && item != nil {
		name = item.Name
	}
	ol := pc.OrderLineItem{
		LineItemNumber:      n,
		OfferID:             li.CatalogItemID,
		TermDuration:        li.TermDuration,
		TransactionType:     "New",
		FriendlyName:        name,
		Quantity:            li.Quantity,
		PromotionID:         li.PromotionID,
		CustomTermEndDate:   li.CustomTermEndDate,
		AttestationAccepted: li.AttestationAccepted,
		ProvisioningContext: li.ProvisioningContext,
		RenewsTo:            li.RenewsTo,
		PurchaseCommitment:  li.PurchaseCommitment,
		Pricing:             li.Pricing,
	}
	// The partners of record come from the cart's participants, as in the published NCE
	// checkout answer (partnerIdOnRecord and additionalPartnerIdsOnRecord, EU/EFTA only).
	for _, p := range li.Participants {
		switch strings.ToLower(p.Key) {
		case "transaction_reseller":
			ol.PartnerIDOnRecord = p.Value
		case "additional_transaction_reseller":
			ol.AdditionalPartnerIDsOnRecord = append(ol.AdditionalPartnerIDsOnRecord, p.Value)
		}
	}
	return ol
}

// snapshot returns the order as of now, completing it first if it is due. Completion is
// lazy, so the simulator needs no background goroutine and an injected clock drives it.
func (o *order) snapshot(now time.Time, completeAfter time.Duration) pc.Order {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.completed && !now.Before(o.created.Add(completeAfter)) {
		o.complete()
	}
	w := o.wire
	w.LineItems = slices.Clone(o.wire.LineItems) // complete() writes into o's own slice
	return w
}

// complete moves the order to its final status and gives each provisioned line a
// subscription ID; add-ons point at their parent's subscription. Lines of items with their
// own orderFinalStatus, and every line of an order ending in another status than
// completed or partial success, get none. The caller holds o.mu.
func (o *order) complete() {
	o.completed = true
	o.wire.Status = o.finalStatus
	switch pc.NormalizeOrderStatus(o.finalStatus) {
	case pc.OrderStatusCompleted, pc.OrderStatusPartialSuccess:
	default:
		return
	}
	for i := range o.wire.LineItems {
		if o.provisions[i] {
			o.wire.LineItems[i].SubscriptionID = uuid.NewString()
		}
	}
	for i, p := range o.parents {
		if p >= 0 {
			o.wire.LineItems[i].ParentSubscriptionID = o.wire.LineItems[p].SubscriptionID
		}
	}
	if o.onComplete != nil {
		o.onComplete(o)
	}
}

// getOrder serves GET .../orders/{orderId}.
func (s *Server) getOrder(c *call) response {
	id := c.r.PathValue("orderId")
	o, ok := s.orders.get(id)
	if !ok || o.customerID != c.customerID {
		return apiError(http.StatusNotFound, codeOrderNotFound, "Order %s was not found for customer %s.", id, c.customerID)
	}
	return response{status: http.StatusOK, body: o.snapshot(c.now, s.opts.OrderCompleteAfter)}
}

// listOrders serves GET .../orders: the customer's orders, oldest first, each listed once
// OrderListingDelay has passed since its creation, in pages of OrdersPageSize. A page that
// is not the last has links.next: the next page's URI and its MS-ContinuationToken header,
// which the request for that page sends back.
func (s *Server) listOrders(c *call) response {
	var listed []*order
	if l, ok := s.customerOrders.get(c.customerID); ok {
		for _, id := range l.list() {
			if o, ok := s.orders.get(id); ok && !c.now.Before(o.created.Add(s.opts.OrderListingDelay)) {
				listed = append(listed, o)
			}
		}
	}
	start := 0
	if token := c.r.Header.Get(continuationTokenHeader); token != "" {
		var ok bool
		if start, ok = parseContinuationToken(token, c.customerID, len(listed)); !ok {
			return apiError(http.StatusBadRequest, codeInvalidInput, "The continuation token is not valid for the orders of customer %s.", c.customerID)
		}
	}
	end := len(listed)
	if size := s.opts.OrdersPageSize; size > 0 {
		end = min(start+size, end)
	}
	self := "/customers/" + c.customerID + "/orders"
	coll := pc.OrderCollection{
		Items:      make([]pc.Order, 0, end-start),
		Links:      &pc.ResourceLinks{Self: &pc.Link{URI: self, Method: http.MethodGet, Headers: []pc.KeyValuePair{}}},
		Attributes: &pc.ResourceAttributes{ObjectType: "Collection"},
	}
	for _, o := range listed[start:end] {
		coll.Items = append(coll.Items, o.snapshot(c.now, s.opts.OrderCompleteAfter))
	}
	coll.TotalCount = len(coll.Items)
	if end < len(listed) {
		coll.Links.Next = &pc.Link{
			URI: self + "?size=" + strconv.Itoa(s.opts.OrdersPageSize) + "&seekOperation=Next", Method: http.MethodGet,
			Headers: []pc.KeyValuePair{{Key: continuationTokenHeader, Value: continuationToken(c.customerID, end)}},
		}
	}
	return response{status: http.StatusOK, body: coll}
}

// continuationTokenHeader is the header Partner Center's collection pages are continued with.
const continuationTokenHeader = "MS-ContinuationToken"

// continuationToken is an opaque-looking token for "the customer's orders from offset on".
// A customer's list only grows at its end (orders are listed oldest first, and each after
// the same delay), so an offset names the same place on every later read.
func continuationToken(customerID string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + "|" + customerID))
}

// parseContinuationToken returns the offset a token of this customer's list names, if the
// token is one and the offset is within the n orders listed now.
func parseContinuationToken(token, customerID string, n int) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, false
	}
	offset, customer, ok := strings.Cut(string(b), "|")
	if !ok || !strings.EqualFold(customer, customerID) {
		return 0, false
	}
	i, err := strconv.Atoi(offset)
	if err != nil || i < 0 || i > n {
		return 0, false
	}
	return i, true
}

// getCustomer serves GET /v1/customers/{customerId}: the customer's company profile, named by
// Options.Customers or after its ID.
func (s *Server) getCustomer(c *call) response {
	name, ok := s.opts.Customers[c.customerID]
	short := c.customerID
	if len(short) > 8 {
		short = short[:8]
	}
	if !ok {
		name = "Customer " + short
	}
	return response{status: http.StatusOK, body: map[string]any{
		"id": c.customerID,
		"companyProfile": map[string]string{
			"tenantId": c.customerID, "domain": short + ".onmicrosoft.com", "companyName": name,
		},
		"attributes": map[string]string{"objectType": "Customer"},
	}}
}
