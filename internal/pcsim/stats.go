package pcsim

import (
	"maps"
	"slices"
	"sync"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Stats counts what pcsim did. Tests and benchmarks read it to prove the operator bought
// each cart at most once.
type Stats struct {
	// Requests counts answers per operation (CreateCart, GetCart, UpdateCart, Checkout,
	// GetOrder, ListOrders, GetSubscription, ListSubscriptions, UpdateSubscription, Token,
	// Unknown) and HTTP status; status 0 is a connection
	// dropped on purpose (DropAfterCommitRate).
	Requests map[string]map[int]int `json:"requests"`
	// CartsCreated counts carts created (replays of a create do not count).
	CartsCreated int `json:"cartsCreated"`
	// CheckoutsExecuted counts, per cart ID, checkout calls that reached the cart: past
	// the random faults, auth, the customer check and MS-RequestId replay. Calls answered
	// by a checkout fault (a refusal, 404, an empty or undecodable or lost answer) count.
	CheckoutsExecuted map[string]int `json:"checkoutsExecuted"`
	// OrdersPerCart counts orders created per cart ID.
	OrdersPerCart map[string]int `json:"ordersPerCart"`
	// OrdersCreated counts all orders.
	OrdersCreated int `json:"ordersCreated"`
	// DuplicateCheckouts counts checkouts that created orders for a cart that already had
	// orders: a double purchase. It is computed from OrdersPerCart, independently of the
	// cart state that is meant to prevent it, and must stay 0.
	DuplicateCheckouts int `json:"duplicateCheckouts"`
	// ReplayedRequests counts POSTs answered from the MS-RequestId replay store.
	ReplayedRequests int `json:"replayedRequests"`
	// Faults counts injected faults by kind: fail, throttle, dropAfterCommit, and the
	// checkout faults by their JSON names (refuseFirstCheckout, loseCheckoutAnswer,
	// refuseRepeatCheckout, emptyCheckoutAnswer, undecodableCheckoutAnswer,
	// checkoutNotFound), one per answer they shaped, and the subscription faults
	// (subscriptionNotReady, subscriptionRefuse, subscriptionLoseAnswer).
	Faults map[string]int `json:"faults"`
	// RateLimited counts requests refused with 429 because their partner tenant had spent
	// its Options.RateLimit budget.
	RateLimited int `json:"rateLimited"`
	// SubscriptionsCancelled counts subscriptions a PATCH moved to "deleted".
	SubscriptionsCancelled int `json:"subscriptionsCancelled"`
	// DuplicateCancels counts PATCHes to "deleted" of a subscription already deleted,
	// whatever their MS-RequestId (replays of the cancelling PATCH do not count: they are
	// answered from the replay store). An operator that cancels exactly once keeps it 0.
	DuplicateCancels int `json:"duplicateCancels"`
	// Refunds holds one record per cancellation, in order.
	Refunds []RefundRecord `json:"refunds"`
	// RefundedFull sums the Full refunds by currency code ("USD" -> "684.00").
	RefundedFull map[string]string `json:"refundedFull"`
}

// RefundRecord is the refund of one cancellation: Full when cancelled before the Full
// refund option expired (24h after purchase), else Partial. Amount (Full only) is the unit
// price pcsim charged on the order line times the quantity cancelled.
type RefundRecord struct {
	SubscriptionID string `json:"subscriptionId"`
	CustomerID     string `json:"customerId"`
	OrderID        string `json:"orderId"`
	OfferID        string `json:"offerId"`
	Type           string `json:"type"`
	Amount         string `json:"amount,omitempty"`
	Currency       string `json:"currency"`
	CancelledAt    string `json:"cancelledAt"`
}

// statsRecorder guards Stats with one mutex; every update is a few map operations.
type statsRecorder struct {
	mu sync.Mutex
	s  Stats
	// refundedCents sums Full refunds by currency; snapshot renders RefundedFull from it.
	refundedCents map[string]int64
}

func newStatsRecorder() *statsRecorder {
	return &statsRecorder{s: Stats{
		Requests:          map[string]map[int]int{},
		CheckoutsExecuted: map[string]int{},
		OrdersPerCart:     map[string]int{},
		Faults:            map[string]int{},
	}, refundedCents: map[string]int64{}}
}

// cancelled records a cancellation and its refund; cents is the Full refund's amount.
func (r *statsRecorder) cancelled(rec RefundRecord, cents int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.SubscriptionsCancelled++
	if rec.Type == pc.RefundFull {
		r.refundedCents[rec.Currency] += cents
	}
	r.s.Refunds = append(r.s.Refunds, rec)
}

func (r *statsRecorder) duplicateCancel() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.DuplicateCancels++
}

func (r *statsRecorder) request(op string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byStatus := r.s.Requests[op]
	if byStatus == nil {
		byStatus = map[int]int{}
		r.s.Requests[op] = byStatus
	}
	byStatus[status]++
}

func (r *statsRecorder) fault(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.Faults[kind]++
}

func (r *statsRecorder) cartCreated() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.CartsCreated++
}

func (r *statsRecorder) replayed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.ReplayedRequests++
}

func (r *statsRecorder) checkoutReached(cartID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.CheckoutsExecuted[cartID]++
}

// ordersCreated records one checkout's orders and notices a second purchase of a cart.
func (r *statsRecorder) ordersCreated(cartID string, n int) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s.OrdersPerCart[cartID] > 0 {
		r.s.DuplicateCheckouts++
	}
	r.s.OrdersPerCart[cartID] += n
	r.s.OrdersCreated += n
}

// snapshot deep-copies the counters so callers can read them without racing.
func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.s
	out.Requests = make(map[string]map[int]int, len(r.s.Requests))
	for op, byStatus := range r.s.Requests {
		out.Requests[op] = maps.Clone(byStatus)
	}
	out.CheckoutsExecuted = maps.Clone(r.s.CheckoutsExecuted)
	out.OrdersPerCart = maps.Clone(r.s.OrdersPerCart)
	out.Faults = maps.Clone(r.s.Faults)
	out.Refunds = slices.Clone(r.s.Refunds)
	out.RefundedFull = make(map[string]string, len(r.refundedCents))
	for cur, c := range r.refundedCents {
		out.RefundedFull[cur] = formatCents(c).String()
	}
	return out
}
