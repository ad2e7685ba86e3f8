package controller

// The Partner Center model of the checkout simulation (simulation_test.go): a stateful fake
// behind pcfake.Client's func fields. It keeps the ground truth the invariants are checked
// against: every cart as Partner Center holds it, every order it created, and for every
// checkout request ID the first processed call's outcome and the world's state at that moment.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

// Unit prices of the catalog items the simulated carts buy, in USD.
var simUnitPrices = map[string]string{
	testItemE5:                       "57.00",
	"CFQ7TTC0LH18:0001:CFQ7TTC0K5SH": "22.00",
}

type pcCart struct {
	ID, Customer, CreateRequestID string
	Attestation                   *bool
	Lines                         []partnercenter.CartLineItem // as sent (no server fields)
	Status                        string
	Created, Expires              time.Time
	Gone                          bool // vanished upstream (a 404 answer said so)
}

type pcOrder struct {
	Order     partnercenter.Order
	RequestID string
	CartID    string
	Content   string // content hash of the cart lines bought
	Created   time.Time
}

// pcCheckout is the first processed call of one request ID: Partner Center answers every
// later call of the same request ID with it.
type pcCheckout struct {
	RequestID, CartID string
	At                time.Time
	Committed         bool
	OrderIDs          []string
	Content           string // content hash bought (committed) or offered
	Lineage           string
	Err               error // the refusal, when not committed
	OrderErrors       []partnercenter.OrderError
	Gate              simGate // the world at the moment of this call
	Step              int
	// OwnerUID, OwnerName and OwnerGeneration: the object that made the call, and its
	// generation then.
	OwnerUID, OwnerName string
	// Siblings: the UIDs of the objects that existed, not being deleted, at this call: an
	// earlier purchase by one of them was another intended purchase, not this one's own.
	Siblings []string
	// judged and repeat: whether this purchase repeats an earlier one the product could see,
	// decided once, in the step it was made (see checkAtMostOnce).
	judged, repeat  bool
	OwnerGeneration int64
}

// simPC is the Partner Center model.
type simPC struct {
	w         *simWorld
	client    *pcfake.Client
	carts     map[string]*pcCart
	byCreate  map[string]string // create request ID -> cart ID
	orders    []*pcOrder
	checkouts map[string]*pcCheckout
	inFlight  map[string][]string // request ID -> managers whose call is in flight
	nextCart  int
	nextOrder int
	lifetime  time.Duration     // how long a cart lives upstream
	subs      map[string]*pcSub // subscription ID -> subscription (simulation_cancel_test.go)
}

func newSimPC(w *simWorld) *simPC {
	p := &simPC{w: w, carts: map[string]*pcCart{}, byCreate: map[string]string{}, checkouts: map[string]*pcCheckout{},
		inFlight: map[string][]string{}}
	// Carts live seven days upstream, or (in some seeds) two hours, so expiry happens often.
	p.lifetime = 7 * 24 * time.Hour
	if w.rng.IntN(3) == 0 {
		p.lifetime = 2 * time.Hour
	}
	c := &pcfake.Client{}
	c.CreateCartFn = p.createCart
	c.GetCartFn = p.getCart
	c.UpdateCartFn = p.updateCart
	c.CheckoutFn = p.checkout
	c.GetOrderFn = p.getOrder
	c.ListOrdersFn = p.listOrders
	c.GetSubscriptionFn = p.getSubscription
	c.CancelSubscriptionFn = p.cancelSubscription
	p.client = c
	return p
}

func apiErr(op string, status int, code, desc string) error {
	return &partnercenter.APIError{Operation: op, StatusCode: status, Code: code, Description: desc}
}

// transientFault draws, for a call that is not a checkout, an answer before processing:
// 429, 503, or nothing. It returns nil for a normal call.
func (p *simPC) transientFault(op string) error {
	w := p.w
	switch {
	case w.chance(w.prof.pcThrottle):
		return &partnercenter.APIError{Operation: op, StatusCode: http.StatusTooManyRequests, RetryAfter: time.Duration(w.rng.IntN(60)) * time.Second}
	case w.chance(w.prof.pc5xx):
		return apiErr(op, http.StatusServiceUnavailable, partnercenter.CodeUnexpectedServiceError, "service unavailable")
	}
	return nil
}

func (p *simPC) expired(c *pcCart) bool {
	return c.Status == partnercenter.CartStatusActive && !p.w.clk.Now().Before(c.Expires)
}

// view is the cart as Partner Center answers it: priced, grouped by billing cycle, timestamped.
func (p *simPC) view(c *pcCart) *partnercenter.Cart {
	lines := copyLines(c.Lines)
	var price func(ls []partnercenter.CartLineItem, group string)
	price = func(ls []partnercenter.CartLineItem, group string) {
		for i := range ls {
			l := &ls[i]
			g := group
			if g == "" {
				g = orderGroupOf(l.BillingCycle)
			}
			l.OrderGroup, l.CurrencyCode = g, "USD"
			if unit, ok := simUnitPrices[l.CatalogItemID]; ok {
				ext, _ := new(big.Rat).SetString(unit)
				ext.Mul(ext, big.NewRat(int64(l.Quantity), 1))
				l.Pricing = &partnercenter.Pricing{Price: json.Number(unit), ExtendedPrice: json.Number(ext.FloatString(2))}
			}
			price(l.AddonItems, g)
		}
	}
	price(lines, "")
	return &partnercenter.Cart{ID: c.ID, Status: c.Status, LineItems: lines, PartnerOnRecordAttestationAccepted: c.Attestation,
		CreationTimestamp: c.Created.UTC().Format(time.RFC3339), ExpirationTimestamp: c.Expires.UTC().Format(time.RFC3339),
		LastModifiedTimestamp: c.Created.UTC().Format(time.RFC3339)}
}

func orderGroupOf(cycle string) string {
	if strings.EqualFold(cycle, "monthly") {
		return "1"
	}
	return "2"
}

// quote is the cart's total, as view prices it.
func (p *simPC) quote(c *pcCart) *big.Rat {
	total := new(big.Rat)
	forEachLine(p.view(c).LineItems, func(l partnercenter.CartLineItem) {
		if l.Pricing != nil {
			if r, ok := new(big.Rat).SetString(l.Pricing.ExtendedPrice.String()); ok {
				total.Add(total, r)
			}
		}
	})
	return total
}

func (p *simPC) createCart(_ context.Context, customer string, sent *partnercenter.Cart, requestID string) (*partnercenter.Cart, error) {
	p.w.pcCall("CreateCart")
	if err := p.transientFault(partnercenter.OpCreateCart); err != nil {
		p.w.tracef("  pc: CreateCart -> %v", err)
		return nil, err
	}
	if id, ok := p.byCreate[requestID]; ok { // idempotent on the request ID
		p.w.tracef("  pc: CreateCart (repeat of request %s) -> %s", short(requestID), id)
		return p.view(p.carts[id]), nil
	}
	p.nextCart++
	now := p.w.clk.Now()
	c := &pcCart{ID: fmt.Sprintf("cart-%d", p.nextCart), Customer: strings.ToLower(customer), CreateRequestID: requestID,
		Attestation: sent.PartnerOnRecordAttestationAccepted, Lines: stripServerFields(sent.LineItems),
		Status: partnercenter.CartStatusActive, Created: now, Expires: now.Add(p.lifetime)}
	p.carts[c.ID], p.byCreate[requestID] = c, c.ID
	if p.w.chance(p.w.prof.pcDrop) {
		p.w.tracef("  pc: CreateCart -> created %s, answer lost", c.ID)
		return nil, &partnercenter.TransportError{Operation: partnercenter.OpCreateCart, RequestID: requestID, Err: errors.New("connection reset")}
	}
	p.w.tracef("  pc: CreateCart -> %s (%s)", c.ID, describeLines(c.Lines))
	return p.view(c), nil
}

func (p *simPC) getCart(_ context.Context, _, cartID string) (*partnercenter.Cart, error) {
	p.w.pcCall("GetCart")
	if err := p.transientFault(partnercenter.OpGetCart); err != nil {
		return nil, err
	}
	c := p.carts[cartID]
	if c == nil || c.Gone || p.expired(c) {
		return nil, apiErr(partnercenter.OpGetCart, http.StatusNotFound, partnercenter.CodeCartNotFound, "cart not found")
	}
	return p.view(c), nil
}

func (p *simPC) updateCart(_ context.Context, _, cartID string, sent *partnercenter.Cart) (*partnercenter.Cart, error) {
	p.w.pcCall("UpdateCart")
	if err := p.transientFault(partnercenter.OpUpdateCart); err != nil {
		return nil, err
	}
	c := p.carts[cartID]
	if c == nil || c.Gone || p.expired(c) {
		p.w.tracef("  pc: UpdateCart %s -> 404", cartID)
		return nil, apiErr(partnercenter.OpUpdateCart, http.StatusNotFound, partnercenter.CodeCartNotFound, "cart not found")
	}
	if c.Status == partnercenter.CartStatusOrdered {
		return nil, apiErr(partnercenter.OpUpdateCart, http.StatusBadRequest, partnercenter.CodeCartAlreadySubmitted, "cart already submitted")
	}
	c.Lines, c.Attestation = stripServerFields(sent.LineItems), sent.PartnerOnRecordAttestationAccepted
	p.w.tracef("  pc: UpdateCart %s -> %s", cartID, describeLines(c.Lines))
	return p.view(c), nil
}

// checkout is the model's checkout: idempotent on MS-RequestId (every later call of a request
// ID that Partner Center processed gets the first call's answer), one order per order group.
// Answers before processing (429, 401) leave no trace; every other answer is given after the
// call was processed, whatever it says (a 503 or a dropped connection may hide a purchase).
func (p *simPC) checkout(ctx context.Context, customer, cartID, requestID string) (*partnercenter.CartCheckoutResult, error) {
	w := p.w
	w.pcCall("Checkout")
	caller := w.caller
	w.tracef("  pc: Checkout %s by %s (request %s)", cartID, caller, short(requestID))
	w.checkNoCallOfFinalIntent(requestID)
	if others := p.inFlight[requestID]; len(others) > 0 {
		w.violate("I4", "two checkout calls of request %s in flight at once: %s's call started while %s's was in flight", short(requestID), caller, strings.Join(others, ", "))
	}
	p.inFlight[requestID] = append(p.inFlight[requestID], caller)
	defer func() { p.inFlight[requestID] = p.inFlight[requestID][:len(p.inFlight[requestID])-1] }()

	// A second manager (another identity) reconciles the same object while this call is in
	// flight: that is what two managers without leader election, or a restarted pod whose
	// predecessor still waits for an answer, look like.
	if !w.nested && w.chance(w.prof.nested) {
		w.runNested(requestID)
	}

	// Refused before processing: this call cannot have bought.
	switch {
	case w.chance(w.prof.pcThrottle):
		ra := time.Duration(w.rng.IntN(120)) * time.Second
		w.tracef("  pc: Checkout -> 429 Retry-After %s (not processed)", ra)
		return nil, &partnercenter.APIError{Operation: partnercenter.OpCheckout, StatusCode: http.StatusTooManyRequests, RetryAfter: ra}
	case w.chance(w.prof.pc401):
		w.tracef("  pc: Checkout -> 401 (not processed)")
		return nil, apiErr(partnercenter.OpCheckout, http.StatusUnauthorized, partnercenter.CodeInvalidTokenAudience, "invalid token")
	}

	if first := p.checkouts[requestID]; first != nil {
		return p.repeat(first)
	}
	c := p.carts[cartID]
	now := w.clk.Now()
	rec := &pcCheckout{RequestID: requestID, CartID: cartID, At: now, Step: w.step}
	p.checkouts[requestID] = rec
	switch {
	case c == nil || c.Gone || p.expired(c):
		rec.Err = apiErr(partnercenter.OpCheckout, http.StatusNotFound, partnercenter.CodeCartNotFound, "cart not found")
		w.tracef("  pc: Checkout -> 404 (cart gone or expired; processed, nothing bought)")
		return nil, rec.Err
	case c.Status == partnercenter.CartStatusOrdered:
		rec.Err = apiErr(partnercenter.OpCheckout, http.StatusBadRequest, partnercenter.CodeCartAlreadySubmitted, "cart already submitted")
		w.tracef("  pc: Checkout -> 400 800065 (cart already ordered by another request)")
		return nil, rec.Err
	}
	rec.Content, rec.Lineage = simContentHash(c.Customer, c.Attestation, c.Lines), lineageKey(w.namespace, c.Customer, simContentHash(c.Customer, c.Attestation, c.Lines))
	rec.Gate = w.gate(requestID, c)
	if owner := w.ownerOf(requestID); owner != nil {
		rec.OwnerUID, rec.OwnerName, rec.OwnerGeneration = string(owner.UID), owner.Name, owner.Generation
	}
	for _, live := range w.liveCarts() {
		if live.DeletionTimestamp.IsZero() {
			rec.Siblings = append(rec.Siblings, string(live.UID))
		}
	}

	// The call is processed: Partner Center decides, then answers (or the answer is lost).
	if w.chance(w.prof.pcRefuse) {
		if w.chance(0.5) {
			rec.Err = apiErr(partnercenter.OpCheckout, http.StatusForbidden, "800002", "credit limit exceeded")
		} else {
			rec.OrderErrors = []partnercenter.OrderError{{OrderGroupID: "1", Code: 800002, Description: "credit limit exceeded"}}
		}
		w.tracef("  pc: Checkout processed: REFUSED (%s)", describeRefusal(rec))
		return p.answerLost(rec, p.refusalAnswer(rec))
	}
	rec.Committed = true
	c.Status = partnercenter.CartStatusOrdered
	rec.OrderIDs = p.commitOrders(c, requestID, rec.Content)
	w.tracef("  pc: Checkout processed: BOUGHT %s -> orders %s (gate at this call: %s)", describeLines(c.Lines), strings.Join(rec.OrderIDs, ","), rec.Gate)
	w.checkApprovedContent(rec) // I1 as soon as it happens
	full := p.result(rec)
	switch n := w.rng.IntN(100); {
	case n < w.prof.oddAnswers:
		// An answer that says less than what happened.
		switch w.rng.IntN(3) {
		case 0:
			w.tracef("  pc: Checkout answer: 2xx with neither orders nor orderErrors")
			return &partnercenter.CartCheckoutResult{}, nil
		case 1:
			w.tracef("  pc: Checkout answer: 2xx with orders without IDs")
			return &partnercenter.CartCheckoutResult{Orders: make([]partnercenter.Order, len(full.Orders))}, nil
		default:
			w.tracef("  pc: Checkout answer: 2xx undecodable")
			return nil, &partnercenter.DecodeError{Operation: partnercenter.OpCheckout, StatusCode: 201, RequestID: requestID, Cause: "unexpected end of JSON input"}
		}
	}
	return p.answerLost(rec, func() (*partnercenter.CartCheckoutResult, error) { return full, nil })
}

// answerLost gives the answer, or (sometimes) loses it after processing: a dropped
// connection or a 503, whatever Partner Center decided.
func (p *simPC) answerLost(rec *pcCheckout, answer func() (*partnercenter.CartCheckoutResult, error)) (*partnercenter.CartCheckoutResult, error) {
	w := p.w
	switch {
	case w.chance(w.prof.pcDrop):
		w.tracef("  pc: Checkout answer lost (connection reset after processing)")
		return nil, &partnercenter.TransportError{Operation: partnercenter.OpCheckout, RequestID: rec.RequestID, Err: errors.New("connection reset by peer")}
	case w.chance(w.prof.pc5xx):
		w.tracef("  pc: Checkout answer: 503 after processing")
		return nil, apiErr(partnercenter.OpCheckout, http.StatusServiceUnavailable, partnercenter.CodeUnexpectedServiceError, "service unavailable")
	}
	return answer()
}

func (p *simPC) refusalAnswer(rec *pcCheckout) func() (*partnercenter.CartCheckoutResult, error) {
	return func() (*partnercenter.CartCheckoutResult, error) {
		if rec.Err != nil {
			return nil, rec.Err
		}
		return &partnercenter.CartCheckoutResult{OrderErrors: slices.Clone(rec.OrderErrors)}, nil
	}
}

// repeat answers a later call of a processed request ID with the first call's result, or
// (sometimes) with a refusal, as Partner Center may answer a repeat.
func (p *simPC) repeat(first *pcCheckout) (*partnercenter.CartCheckoutResult, error) {
	w := p.w
	if first.Committed && w.chance(w.prof.repeatRefusal) {
		if w.chance(0.5) {
			w.tracef("  pc: Checkout (repeat) -> 400 800065 already submitted")
			return nil, apiErr(partnercenter.OpCheckout, http.StatusBadRequest, partnercenter.CodeCartAlreadySubmitted, "cart already submitted")
		}
		w.tracef("  pc: Checkout (repeat) -> 403 credit limit")
		return nil, apiErr(partnercenter.OpCheckout, http.StatusForbidden, "800002", "credit limit exceeded")
	}
	if first.Committed {
		w.tracef("  pc: Checkout (repeat) -> first result: orders %s", strings.Join(first.OrderIDs, ","))
		return p.answerLost(first, func() (*partnercenter.CartCheckoutResult, error) { return p.result(first), nil })
	}
	w.tracef("  pc: Checkout (repeat) -> first result: %s", describeRefusal(first))
	return p.answerLost(first, p.refusalAnswer(first))
}

func describeRefusal(rec *pcCheckout) string {
	if rec.Err != nil {
		return rec.Err.Error()
	}
	return fmt.Sprintf("orderErrors only (%d)", len(rec.OrderErrors))
}

// commitOrders creates one order per order group of the cart, as Partner Center splits them.
func (p *simPC) commitOrders(c *pcCart, requestID, content string) []string {
	now := p.w.clk.Now()
	groups := map[string][]partnercenter.CartLineItem{}
	forEachLine(p.view(c).LineItems, func(l partnercenter.CartLineItem) { groups[l.OrderGroup] = append(groups[l.OrderGroup], l) })
	var ids []string
	for _, g := range sortedKeys(groups) {
		p.nextOrder++
		o := partnercenter.Order{ID: fmt.Sprintf("ord-%d", p.nextOrder), ReferenceCustomerID: c.Customer, CurrencyCode: "USD",
			CreationDate: now.UTC().Format(time.RFC3339), Status: partnercenter.OrderStatusPending, TransactionType: "UserPurchase"}
		total := new(big.Rat)
		for i, l := range groups[g] {
			o.BillingCycle = strings.ToLower(l.BillingCycle)
			o.LineItems = append(o.LineItems, partnercenter.OrderLineItem{LineItemNumber: i, OfferID: l.CatalogItemID, Quantity: l.Quantity,
				TermDuration: l.TermDuration, FriendlyName: l.FriendlyName, PromotionID: l.PromotionID, Pricing: l.Pricing})
			if l.Pricing != nil {
				if r, ok := new(big.Rat).SetString(l.Pricing.ExtendedPrice.String()); ok {
					total.Add(total, r)
				}
			}
		}
		o.TotalPrice = json.Number(total.FloatString(2))
		p.orders = append(p.orders, &pcOrder{Order: o, RequestID: requestID, CartID: c.ID, Content: content, Created: now})
		ids = append(ids, o.ID)
	}
	return ids
}

// order returns the order as Partner Center shows it now: pending for five minutes, then
// completed with subscription IDs.
func (p *simPC) order(o *pcOrder) partnercenter.Order {
	out := o.Order
	out.LineItems = slices.Clone(o.Order.LineItems)
	if p.w.clk.Now().Sub(o.Created) >= 5*time.Minute {
		out.Status = partnercenter.OrderStatusCompleted
		for i := range out.LineItems {
			out.LineItems[i].SubscriptionID = p.subscription(o.Order.ID, i, o.Created.Add(5*time.Minute)).ID
		}
	}
	return out
}

func (p *simPC) result(rec *pcCheckout) *partnercenter.CartCheckoutResult {
	res := &partnercenter.CartCheckoutResult{}
	for _, o := range p.orders {
		if o.RequestID == rec.RequestID {
			res.Orders = append(res.Orders, p.order(o))
		}
	}
	return res
}

func (p *simPC) getOrder(_ context.Context, _, orderID string) (*partnercenter.Order, error) {
	p.w.pcCall("GetOrder")
	if err := p.transientFault(partnercenter.OpGetOrder); err != nil {
		return nil, err
	}
	for _, o := range p.orders {
		if o.Order.ID == orderID {
			out := p.order(o)
			return &out, nil
		}
	}
	return nil, apiErr(partnercenter.OpGetOrder, http.StatusNotFound, "", "order not found")
}

func (p *simPC) listOrders(_ context.Context, customer string) ([]partnercenter.Order, error) {
	p.w.pcCall("ListOrders")
	if err := p.transientFault(partnercenter.OpListOrders); err != nil {
		return nil, err
	}
	var out []partnercenter.Order
	for _, o := range p.orders {
		if strings.EqualFold(o.Order.ReferenceCustomerID, customer) && p.w.clk.Now().Sub(o.Created) >= orderListingDelay {
			out = append(out, p.order(o))
		}
	}
	return out, nil
}

// committedOrders returns the orders of a request ID.
func (p *simPC) committedOrders(requestID string) []*pcOrder {
	var out []*pcOrder
	for _, o := range p.orders {
		if o.RequestID == requestID {
			out = append(out, o)
		}
	}
	return out
}

// simContentHash hashes purchase content exactly as SpecHash does, from wire lines: what a
// Partner Center cart holds can so be compared with what a spec (and its approval) covers.
func simContentHash(customer string, attestation *bool, lines []partnercenter.CartLineItem) string {
	content := struct {
		CustomerID  string                       `json:"customerId"`
		Attestation *bool                        `json:"partnerOnRecordAttestationAccepted,omitempty"`
		LineItems   []partnercenter.CartLineItem `json:"lineItems"`
	}{strings.ToLower(customer), attestation, canonicalLines(stripServerFields(lines))}
	b, err := json.Marshal(content)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// stripServerFields keeps of cart lines what a client sends.
func stripServerFields(lines []partnercenter.CartLineItem) []partnercenter.CartLineItem {
	out := copyLines(lines)
	for i := range out {
		out[i].CurrencyCode, out[i].OrderGroup, out[i].Pricing, out[i].Error = "", "", nil, nil
		out[i].AddonItems = stripServerFields(out[i].AddonItems)
		if len(out[i].AddonItems) == 0 {
			out[i].AddonItems = nil
		}
	}
	return out
}

func copyLines(lines []partnercenter.CartLineItem) []partnercenter.CartLineItem {
	if lines == nil {
		return nil
	}
	b, _ := json.Marshal(lines)
	var out []partnercenter.CartLineItem
	_ = json.Unmarshal(b, &out)
	return out
}

func describeLines(lines []partnercenter.CartLineItem) string {
	var parts []string
	forEachLine(lines, func(l partnercenter.CartLineItem) {
		s := fmt.Sprintf("%s x%d", strings.SplitN(l.CatalogItemID, ":", 2)[0], l.Quantity)
		if l.PromotionID != "" {
			s += " promo=" + l.PromotionID
		}
		parts = append(parts, s)
	})
	return strings.Join(parts, ", ")
}

func lineageKey(namespace, customer, content string) string {
	return namespace + "/" + strings.ToLower(customer) + "/" + short(content)
}

func short(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
