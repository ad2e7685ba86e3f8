package pcsim

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

func TestCheckoutIsIdempotentPerCart(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 10, "annual", "P1Y"), line(1, businessBas, 3, "monthly", "P1M"))

	first := h.checkoutOK(customerA, ct.ID)
	g.Expect(first.OrderErrors).To(BeEmpty())
	g.Expect(first.Orders).To(HaveLen(2), "one order per order group")
	o := first.Orders[0]
	g.Expect(len(o.ID)).To(BeNumerically(">=", 12))
	g.Expect(o.Status).To(Equal(pc.OrderStatusPending))
	g.Expect(o.ReferenceCustomerID).To(Equal(customerA))
	g.Expect(o.BillingCycle).To(Equal("annual"))
	g.Expect(o.CurrencyCode).To(Equal("USD"))
	g.Expect(o.CreationDate).To(Equal("2026-03-01T12:00:00Z"))
	g.Expect(o.TotalPrice.String()).To(Equal("6840.00"))
	g.Expect(o.LineItems).To(HaveLen(1))
	g.Expect(o.LineItems[0]).To(Equal(pc.OrderLineItem{
		LineItemNumber: 0, OfferID: e5, TermDuration: "P1Y", TransactionType: "New",
		FriendlyName: "Microsoft 365 E5", Quantity: 10, Pricing: ct.LineItems[0].Pricing,
	}))
	g.Expect(first.Orders[1].TotalPrice.String()).To(Equal("18.00"))

	second := h.checkoutOK(customerA, ct.ID)
	g.Expect(second).To(Equal(first), "a repeat returns the first result")

	resp, body := h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(decode[pc.Cart](g, body).Status).To(Equal(pc.CartStatusOrdered))

	st := h.srv.Stats()
	g.Expect(st.OrdersCreated).To(Equal(2))
	g.Expect(st.OrdersPerCart).To(Equal(map[string]int{ct.ID: 2}))
	g.Expect(st.CheckoutsExecuted).To(Equal(map[string]int{ct.ID: 2}))
	g.Expect(st.DuplicateCheckouts).To(BeZero())
	g.Expect(st.Requests[opCheckout]).To(Equal(map[int]int{201: 2}))
	g.Expect(h.srv.Orders()).To(HaveLen(2))
}

func TestConcurrentCheckoutOfOneCartGets409(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))

	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.srv.checkoutHook = func(string) {
		once.Do(func() { close(held); <-release })
	}
	firstDone := make(chan pc.CartCheckoutResult)
	go func() {
		// Assertions stay on the test goroutine; this one only reports.
		resp, body, err := h.send(http.MethodPost, cartPath(customerA, ct.ID)+"/checkout", nil)
		if err == nil && resp.StatusCode == http.StatusCreated {
			firstDone <- decode[pc.CartCheckoutResult](NewWithT(t), body)
			return
		}
		close(firstDone)
	}()
	<-held // the first checkout now holds the cart

	resp, body := h.checkout(customerA, ct.ID)
	expectAPIError(g, resp, body, http.StatusConflict, "800064")
	resp, body = h.do(http.MethodPut, cartPath(customerA, ct.ID), ct)
	expectAPIError(g, resp, body, http.StatusConflict, "800064")

	close(release)
	first, ok := <-firstDone
	g.Expect(ok).To(BeTrue(), "the first checkout succeeds")
	g.Expect(first.Orders).To(HaveLen(1))
	again := h.checkoutOK(customerA, ct.ID)
	g.Expect(again.Orders[0].ID).To(Equal(first.Orders[0].ID))

	st := h.srv.Stats()
	g.Expect(st.OrdersCreated).To(Equal(1))
	g.Expect(st.CheckoutsExecuted[ct.ID]).To(Equal(3))
	g.Expect(st.DuplicateCheckouts).To(BeZero())
}

func TestCheckoutWithTheSameRequestIDNeverMeets409(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.srv.checkoutHook = func(string) { once.Do(func() { close(held); <-release }) }

	type result struct {
		status int
		body   string
	}
	results := make(chan result, 2)
	post := func() {
		resp, body, err := h.send(http.MethodPost, cartPath(customerA, ct.ID)+"/checkout", nil, "MS-RequestId", "req-1")
		if err != nil {
			results <- result{}
			return
		}
		results <- result{resp.StatusCode, string(body)}
	}
	go post()
	<-held
	go post() // same MS-RequestId: waits for the first instead of meeting 409
	close(release)
	a, b := <-results, <-results
	g.Expect(a.status).To(Equal(http.StatusCreated))
	g.Expect(b).To(Equal(a))
	g.Expect(h.srv.Stats().OrdersCreated).To(Equal(1))
	g.Expect(h.srv.Stats().ReplayedRequests).To(Equal(1))
}

func TestOrdersCompleteAfterTheDelay(t *testing.T) {
	h := newHarness(t, Options{OrderCompleteAfter: time.Minute})
	g := h.g
	base := line(0, e5, 10, "monthly", "P1M")
	base.FriendlyName = "Contoso E5"
	base.AddonItems = []pc.CartLineItem{line(1, teamsPhone, 10, "monthly", "P1M")}
	ct := h.createCart(customerA, base)
	res := h.checkoutOK(customerA, ct.ID)
	g.Expect(res.Orders).To(HaveLen(1))
	id := res.Orders[0].ID
	for _, li := range res.Orders[0].LineItems {
		g.Expect(li.SubscriptionID).To(BeEmpty(), "subscriptions appear later")
	}
	orderPath := "/v1/customers/" + customerA + "/orders/" + id

	h.clock.Step(59 * time.Second)
	resp, body := h.do(http.MethodGet, orderPath, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(decode[pc.Order](g, body).Status).To(Equal(pc.OrderStatusPending))

	h.clock.Step(time.Second)
	resp, body = h.do(http.MethodGet, orderPath, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	o := decode[pc.Order](g, body)
	g.Expect(o.Status).To(Equal(pc.OrderStatusCompleted))
	g.Expect(o.LineItems).To(HaveLen(2))
	g.Expect(o.LineItems[0].FriendlyName).To(Equal("Contoso E5"))
	g.Expect(uuid.Validate(o.LineItems[0].SubscriptionID)).To(Succeed())
	g.Expect(uuid.Validate(o.LineItems[1].SubscriptionID)).To(Succeed())
	g.Expect(o.LineItems[1].SubscriptionID).NotTo(Equal(o.LineItems[0].SubscriptionID))
	g.Expect(o.LineItems[1].ParentSubscriptionID).To(Equal(o.LineItems[0].SubscriptionID))
	g.Expect(o.TotalPrice.String()).To(Equal("670.00"))

	// Subscription IDs are stable, and a repeat checkout shows the current status.
	_, body = h.do(http.MethodGet, orderPath, nil)
	g.Expect(decode[pc.Order](g, body)).To(Equal(o))
	g.Expect(h.checkoutOK(customerA, ct.ID).Orders[0]).To(Equal(o))

	resp, body = h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	coll := decode[pc.OrderCollection](g, body)
	g.Expect(coll.TotalCount).To(Equal(1))
	g.Expect(coll.Items).To(Equal([]pc.Order{o}))
	g.Expect(h.srv.Orders()).To(Equal([]OrderRecord{{
		OrderID: id, CustomerID: customerA, CartID: ct.ID, Status: "completed", TotalPrice: "670.00",
	}}))

	resp, body = h.do(http.MethodGet, "/v1/customers/"+customerB+"/orders/"+id, nil)
	expectAPIError(g, resp, body, http.StatusNotFound, "800007")
	_, body = h.do(http.MethodGet, "/v1/customers/"+customerB+"/orders", nil)
	g.Expect(decode[pc.OrderCollection](g, body).TotalCount).To(BeZero())
}

func TestCatalogTestBehaviours(t *testing.T) {
	h := newHarness(t, Options{OrderCompleteAfter: time.Second})
	g := h.g
	ct := h.createCart(customerA,
		line(0, e5CheckoutKO, 1, "monthly", "P1M"),
		line(1, e5EndsError, 1, "annual", "P1Y"))
	res := h.checkoutOK(customerA, ct.ID)
	g.Expect(res.OrderErrors).To(ConsistOf(pc.OrderError{
		OrderGroupID: "0", Code: 800010,
		Description: "Inventory is not available for catalog item CFQ7TTC0LF8S:0001:CFQ7TTC0FAIL.",
	}))
	g.Expect(res.Orders).To(HaveLen(1))
	g.Expect(res.Orders[0].LineItems[0].OfferID).To(Equal(e5EndsError))

	h.clock.Step(time.Second)
	resp, body := h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders/"+res.Orders[0].ID, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	o := decode[pc.Order](g, body)
	g.Expect(o.Status).To(Equal(pc.OrderStatusError))
	g.Expect(o.LineItems[0].SubscriptionID).To(BeEmpty(), "nothing was provisioned")

	// A cart whose only group fails stays Active and creates nothing on retry either.
	only := h.createCart(customerA, line(0, e5CheckoutKO, 1, "monthly", "P1M"))
	for range 2 {
		res := h.checkoutOK(customerA, only.ID)
		g.Expect(res.Orders).To(BeEmpty())
		g.Expect(res.OrderErrors).To(HaveLen(1))
	}
	_, body = h.do(http.MethodGet, cartPath(customerA, only.ID), nil)
	g.Expect(decode[pc.Cart](g, body).Status).To(Equal(pc.CartStatusActive))
	g.Expect(h.srv.Stats().OrdersCreated).To(Equal(1))
}

func TestCreateCartReplaysTheSameRequestID(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	body := pc.Cart{LineItems: []pc.CartLineItem{line(0, e5, 1, "monthly", "P1M")}}

	resp1, b1 := h.do(http.MethodPost, cartsPath(customerA), body, "MS-RequestId", "create-1", "MS-CorrelationId", "corr-1")
	g.Expect(resp1.StatusCode).To(Equal(http.StatusCreated))
	g.Expect(resp1.Header.Get("MS-RequestId")).To(Equal("create-1"))
	g.Expect(resp1.Header.Get("MS-CorrelationId")).To(Equal("corr-1"))
	h.clock.Step(time.Minute)
	resp2, b2 := h.do(http.MethodPost, cartsPath(customerA), body, "MS-RequestId", "create-1")
	g.Expect(resp2.StatusCode).To(Equal(http.StatusCreated))
	g.Expect(b2).To(Equal(b1), "the stored first answer, timestamps included")
	g.Expect(uuid.Validate(resp2.Header.Get("MS-CorrelationId"))).To(Succeed(), "generated when absent")

	// Another customer or another request ID is another request.
	_, b3 := h.do(http.MethodPost, cartsPath(customerB), body, "MS-RequestId", "create-1")
	g.Expect(b3).NotTo(Equal(b1))
	_, b4 := h.do(http.MethodPost, cartsPath(customerA), body, "MS-RequestId", "create-2")
	g.Expect(b4).NotTo(Equal(b1))
	// Without MS-RequestId nothing is replayed, and a generated one is echoed.
	resp5, _ := h.do(http.MethodPost, cartsPath(customerA), body)
	g.Expect(uuid.Validate(resp5.Header.Get("MS-RequestId"))).To(Succeed())

	st := h.srv.Stats()
	g.Expect(st.CartsCreated).To(Equal(4))
	g.Expect(st.ReplayedRequests).To(Equal(1))
	g.Expect(st.Requests[opCreateCart]).To(Equal(map[int]int{201: 5}))
}

func TestFailedPOSTsAreNotReplayed(t *testing.T) {
	h := newHarness(t, Options{})
	ct := h.createCart(customerA, line(0, e5, 5000, "monthly", "P1M"))
	resp, _ := h.checkout(customerA, ct.ID, "MS-RequestId", "co-1")
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))

	fixed := ct
	fixed.LineItems = []pc.CartLineItem{line(0, e5, 5, "monthly", "P1M")}
	resp, _ = h.do(http.MethodPut, cartPath(customerA, ct.ID), fixed)
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
	resp, _ = h.checkout(customerA, ct.ID, "MS-RequestId", "co-1")
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), "the 400 was not stored")
}
