package partnercenter_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"

	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

const (
	simClientID   = "pcsim-app"
	simSecret     = "pcsim-S3cret-value"
	simCustomer   = "6a1c43b5-2f3e-4d0c-9a51-0d7c1e3a8f42"
	m365E5        = "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H"
	businessBasic = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS"
	teamsPhone    = "CFQ7TTC0LH18:0001:CFQ7TTC0K5TK"
)

var simCreds = partnercenter.Credentials{
	TenantID: "0b2d7c11-4c55-4f0e-8f2b-1f6f43e7a9aa", ClientID: simClientID, ClientSecret: simSecret,
}

// simClock is pcsim's clock, moved by the test to complete orders.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func startSim(t *testing.T) (*pcsim.Server, *simClock, *partnercenter.HTTPFactory) {
	t.Helper()
	return startSimWith(t, pcsim.Options{})
}

// startSimWith is startSim with more pcsim options.
func startSimWith(t *testing.T, opts pcsim.Options) (*pcsim.Server, *simClock, *partnercenter.HTTPFactory) {
	t.Helper()
	clk := &simClock{now: time.Now()}
	opts.ClientID, opts.ClientSecret = simClientID, simSecret
	opts.OrderCompleteAfter, opts.Now = time.Minute, clk.Now
	sim, err := pcsim.New(opts)
	if err != nil {
		t.Fatalf("pcsim.New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	f := partnercenter.NewFactory(partnercenter.Config{
		Endpoint:       srv.URL,
		AuthorityHost:  srv.URL,
		HTTPClient:     srv.Client(),
		RetryBaseDelay: time.Millisecond,
	})
	return sim, clk, f
}

func TestRealClientAgainstPCSim(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, clk, f := startSim(t)
	c, err := f.ClientFor(simCreds)
	g.Expect(err).NotTo(HaveOccurred())

	created, err := c.CreateCart(ctx, simCustomer, &partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{
		ID: 0, CatalogItemID: m365E5, Quantity: 2, BillingCycle: "monthly", TermDuration: "P1M",
	}}}, uuid.NewString())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(created.ID).NotTo(BeEmpty())
	g.Expect(created.Status).To(Equal(partnercenter.CartStatusActive))
	g.Expect(created.LineItems[0].Error).To(BeNil())

	created.LineItems[0].Quantity = 5
	updated, err := c.UpdateCart(ctx, simCustomer, created.ID, created)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(updated.LineItems[0].Quantity).To(Equal(5))

	read, err := c.GetCart(ctx, simCustomer, created.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(read.LineItems[0].Quantity).To(Equal(5))

	first, err := c.Checkout(ctx, simCustomer, created.ID, uuid.NewString())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first.Orders).NotTo(BeEmpty())
	g.Expect(first.OrderErrors).To(BeEmpty())

	// A second checkout of the same cart, as a caller recovering from an unknown outcome
	// would send it: Partner Center answers with the first checkout's orders.
	second, err := c.Checkout(ctx, simCustomer, created.ID, uuid.NewString())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(orderIDs(second.Orders)).To(Equal(orderIDs(first.Orders)))
	g.Expect(sim.Stats().DuplicateCheckouts).To(BeZero())
	g.Expect(sim.Stats().OrdersPerCart[created.ID]).To(Equal(len(first.Orders)))

	orderID := first.Orders[0].ID
	order, err := c.GetOrder(ctx, simCustomer, orderID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(order.ID).To(Equal(orderID))
	g.Expect(partnercenter.OrderStatusIsTerminal(order.Status)).To(BeFalse(), "status %q", order.Status)

	clk.Advance(2 * time.Minute)
	order, err = c.GetOrder(ctx, simCustomer, orderID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(partnercenter.NormalizeOrderStatus(order.Status)).To(Equal(partnercenter.OrderStatusCompleted))

	orders, err := c.ListOrders(ctx, simCustomer)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(orderIDs(orders)).To(ContainElement(orderID))

	g.Expect(sim.Stats().Requests["Token"]).To(Equal(map[int]int{200: 1}), "one token for the whole story")
}

func TestRealClientAgainstPCSimFailures(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, _, f := startSim(t)

	wrong := simCreds
	wrong.ClientSecret = "not-" + simSecret
	c, err := f.ClientFor(wrong)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.GetCart(ctx, simCustomer, "cart-1")
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassUnauthorized))
	g.Expect(err.Error()).NotTo(ContainSubstring(wrong.ClientSecret))

	c, err = f.ClientFor(simCreds)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.GetCart(ctx, pcsim.NilCustomerID, uuid.NewString()) // an unknown customer
	g.Expect(err).To(HaveOccurred())

	_, err = c.GetCart(ctx, simCustomer, uuid.NewString())
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassNotFound))

	sim.SetFaults(pcsim.Faults{FailRate: 1})
	_, err = c.GetCart(ctx, simCustomer, uuid.NewString())
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassRetryable))
	g.Expect(sim.Stats().Requests["GetCart"][500]).To(Equal(1 + partnercenter.DefaultMaxRetries))

	_, err = c.Checkout(ctx, simCustomer, uuid.NewString(), uuid.NewString())
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassRetryable))
	g.Expect(sim.Stats().Requests["Checkout"][500]).To(Equal(1), "a checkout is sent once")
}

// TestRealClientReadsEveryPageOfPCSimsOrders: pcsim pages the order list as Partner Center
// does (links.next with an MS-ContinuationToken); the client reads every page.
func TestRealClientReadsEveryPageOfPCSimsOrders(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, _, f := startSimWith(t, pcsim.Options{OrdersPageSize: 2})
	c, err := f.ClientFor(simCreds)
	g.Expect(err).NotTo(HaveOccurred())
	var want []string
	for range 5 {
		created, err := c.CreateCart(ctx, simCustomer, &partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{
			ID: 0, CatalogItemID: m365E5, Quantity: 1, BillingCycle: "monthly", TermDuration: "P1M",
		}}}, uuid.NewString())
		g.Expect(err).NotTo(HaveOccurred())
		result, err := c.Checkout(ctx, simCustomer, created.ID, uuid.NewString())
		g.Expect(err).NotTo(HaveOccurred())
		want = append(want, orderIDs(result.Orders)...)
	}

	orders, err := c.ListOrders(ctx, simCustomer)

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(orderIDs(orders)).To(Equal(want))
	g.Expect(sim.Stats().Requests["ListOrders"]).To(Equal(map[int]int{200: 3}), "three pages of two")
}

func orderIDs(orders []partnercenter.Order) []string {
	ids := make([]string, 0, len(orders))
	for _, o := range orders {
		ids = append(ids, o.ID)
	}
	return ids
}

// TestRealClientCancelsPCSimSubscriptions: the client reads an order's subscriptions and
// cancels one by a PATCH of the resource as read; pcsim refuses a second cancellation
// (900279) and one after the cancellation window (900213), both terminal.
func TestRealClientCancelsPCSimSubscriptions(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim, clk, f := startSim(t)
	c, err := f.ClientFor(simCreds)
	g.Expect(err).NotTo(HaveOccurred())

	created, err := c.CreateCart(ctx, simCustomer, &partnercenter.Cart{LineItems: []partnercenter.CartLineItem{
		{ID: 0, CatalogItemID: m365E5, Quantity: 2, BillingCycle: "monthly", TermDuration: "P1M"},
		{ID: 1, CatalogItemID: businessBasic, Quantity: 3, BillingCycle: "monthly", TermDuration: "P1M"},
		{ID: 2, CatalogItemID: teamsPhone, Quantity: 1, BillingCycle: "monthly", TermDuration: "P1M"},
	}}, uuid.NewString())
	g.Expect(err).NotTo(HaveOccurred())
	result, err := c.Checkout(ctx, simCustomer, created.ID, uuid.NewString())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.Orders).To(HaveLen(1))
	orderID := result.Orders[0].ID
	clk.Advance(2 * time.Minute)

	subs, err := c.ListOrderSubscriptions(ctx, simCustomer, orderID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(subs).To(HaveLen(3))
	byOffer := map[string]*partnercenter.Subscription{}
	for i := range subs {
		s := &subs[i]
		g.Expect(s.OrderID).To(Equal(orderID))
		g.Expect(s.Status).To(Equal(partnercenter.SubscriptionActive))
		until, ok := s.CancellableUntil()
		g.Expect(ok).To(BeTrue())
		g.Expect(until).To(BeTemporally(">", clk.Now().Add(167*time.Hour)))
		g.Expect(s.RefundAt(clk.Now())).To(Equal(partnercenter.RefundFull))
		byOffer[s.OfferID] = s
	}

	// Cancel: the PATCH carries the fields the model does not name (pcsim refuses a body
	// without them), and the answer is the deleted subscription.
	e5 := byOffer[m365E5]
	cancelled, err := c.CancelSubscription(ctx, simCustomer, e5, uuid.NewString())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cancelled.IsCancelled()).To(BeTrue())
	read, err := c.GetSubscription(ctx, simCustomer, e5.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(read.Status).To(Equal(partnercenter.SubscriptionDeleted))

	_, err = c.CancelSubscription(ctx, simCustomer, e5, uuid.NewString())
	g.Expect(partnercenter.ErrorCode(err)).To(Equal(partnercenter.CodeSubscriptionNoUpdates))
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassTerminal))
	g.Expect(partnercenter.IsCancellationWindowPassed(err)).To(BeFalse())

	basic := byOffer[businessBasic]
	g.Expect(sim.BackdateSubscription(basic.ID, 169*time.Hour)).To(BeTrue())
	_, err = c.CancelSubscription(ctx, simCustomer, basic, uuid.NewString())
	g.Expect(partnercenter.ErrorCode(err)).To(Equal(partnercenter.CodeCancellationWindowHours))
	g.Expect(partnercenter.IsCancellationWindowPassed(err)).To(BeTrue())
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassTerminal))

	// A lost answer: the cancellation happened, the client sees a retryable transport
	// error and does not resend.
	phone := byOffer[teamsPhone]
	sim.SetSubscriptionFault(phone.ID, pcsim.SubscriptionFault{LoseAnswer: true})
	_, err = c.CancelSubscription(ctx, simCustomer, phone, uuid.NewString())
	g.Expect(err).To(HaveOccurred())
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassRetryable))
	read, err = c.GetSubscription(ctx, simCustomer, phone.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(read.IsCancelled()).To(BeTrue())

	_, err = c.GetSubscription(ctx, simCustomer, uuid.NewString())
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassNotFound))

	st := sim.Stats()
	g.Expect(st.SubscriptionsCancelled).To(Equal(2))
	g.Expect(st.DuplicateCancels).To(Equal(1))
	g.Expect(st.Requests["UpdateSubscription"]).To(Equal(map[int]int{200: 1, 400: 2, 0: 1}), "each cancellation sent once")
	g.Expect(st.RefundedFull).To(Equal(map[string]string{"USD": "124.00"}), "E5 2 x 57.00 and Teams Phone 1 x 10.00")
}
