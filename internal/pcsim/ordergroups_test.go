package pcsim

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// What the identical-purchase guard and the simulation need of pcsim: orders split by order
// group as Partner Center splits them, order lists in pages with continuation tokens, and
// the delay before a new order is listed.

// TestPublishedMultiTypeCartIsSplitAsPublished: Partner Center's published multi-type cart
// (an Azure plan, two reservations, perpetual software, SaaS and a SaaS trial) is answered
// with order groups "OMS-0", "0", "0", "0", "1", "2"; pcsim assigns the same, and its
// checkout makes one order per group.
func TestPublishedMultiTypeCartIsSplitAsPublished(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	var published pc.Cart
	g.Expect(json.Unmarshal(readPublished(t, "create-a-cart.multi.response.json"), &published)).To(Succeed())
	wantGroup := map[int]string{}
	for _, l := range published.LineItems {
		wantGroup[l.ID] = l.OrderGroup
	}
	g.Expect(wantGroup).To(Equal(map[int]string{0: "OMS-0", 1: "0", 2: "0", 3: "0", 4: "1", 5: "2"}))

	resp, body := h.sendRaw(http.MethodPost, cartsPath(customerA), readPublished(t, "create-a-cart.multi.request.json"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(body))
	created := decode[pc.Cart](g, body)
	for _, l := range created.LineItems {
		g.Expect(l.OrderGroup).To(Equal(wantGroup[l.ID]), "line %d (%s)", l.ID, l.CatalogItemID)
	}

	result := h.checkoutOK(customerA, created.ID)
	g.Expect(result.OrderErrors).To(BeEmpty())
	type shape struct {
		Cycle string
		Lines int
	}
	var got []shape
	for _, o := range result.Orders {
		got = append(got, shape{o.BillingCycle, len(o.LineItems)})
	}
	g.Expect(got).To(Equal([]shape{{"monthly", 1}, {"one_time", 3}, {"monthly", 1}, {"none", 1}}),
		"the plan, reservations with software, SaaS, the trial: as in the published checkout answer")
}

// TestLicenseLinesOfDifferentCyclesOrTypesAreDifferentOrders: new-commerce license lines of
// one billing cycle share an order; another billing cycle, or another product type of the
// same cycle, is another order.
func TestLicenseLinesOfDifferentCyclesOrTypesAreDifferentOrders(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	ri := line(3, reservedVM, 1, "one_time", "P1Y")
	ri.ProvisioningContext = pc.ProvisioningContext{"scope": "shared", "subscriptionId": "1C461A25-F729-4FA5-AADB-280947DD05E8"}
	saas := line(4, "DZH318Z0BXWC:0002:DZH318Z0BMRV", 1, "monthly", "P1M")
	ct := h.createCart(customerA,
		line(0, e5, 10, "monthly", "P1Y"), line(1, businessBas, 3, "monthly", "P1M"), line(2, e5, 5, "annual", "P1Y"), ri, saas)

	groups := map[int]string{}
	for _, l := range ct.LineItems {
		g.Expect(l.Error).To(BeNil(), "line %d", l.ID)
		groups[l.ID] = l.OrderGroup
	}
	g.Expect(groups).To(Equal(map[int]string{0: "0", 1: "0", 2: "1", 3: "2", 4: "3"}))
	result := h.checkoutOK(customerA, ct.ID)
	g.Expect(result.Orders).To(HaveLen(4))
	g.Expect(result.Orders[0].LineItems).To(HaveLen(2), "the two monthly license lines")
}

// TestOrderGroupPerLineSplitsOneBillingCycle: with OrderGroupPerLine every line is its own
// order, add-ons in their parent's.
func TestOrderGroupPerLineSplitsOneBillingCycle(t *testing.T) {
	h := newHarness(t, Options{OrderGroupPerLine: true})
	g := h.g
	base := line(0, e5, 10, "monthly", "P1Y")
	base.AddonItems = []pc.CartLineItem{line(1, teamsPhone, 10, "monthly", "P1M")}
	ct := h.createCart(customerA, base, line(2, businessBas, 3, "monthly", "P1M"))

	g.Expect(ct.LineItems[0].OrderGroup).To(Equal("0"))
	g.Expect(ct.LineItems[0].AddonItems[0].OrderGroup).To(Equal("0"))
	g.Expect(ct.LineItems[1].OrderGroup).To(Equal("1"))
	result := h.checkoutOK(customerA, ct.ID)
	g.Expect(result.Orders).To(HaveLen(2))
	g.Expect(result.Orders[0].LineItems).To(HaveLen(2), "the base line and its add-on")
	g.Expect(result.Orders[1].LineItems).To(HaveLen(1))
	g.Expect(result.Orders[0].BillingCycle).To(Equal(result.Orders[1].BillingCycle))
}

// buyOneEach checks out n one-line carts for the customer and returns their order IDs.
func (h *harness) buyOneEach(customer string, n int) []string {
	h.t.Helper()
	var ids []string
	for range n {
		ct := h.createCart(customer, line(0, e5, 1, "monthly", "P1M"))
		ids = append(ids, h.checkoutOK(customer, ct.ID).Orders[0].ID)
	}
	return ids
}

// listPage reads one page of the customer's orders: the first, or the one next names.
func (h *harness) listPage(customer string, next *pc.Link) pc.OrderCollection {
	h.t.Helper()
	path, headers := "/v1/customers/"+customer+"/orders", []string(nil)
	if next != nil {
		path = "/v1" + next.URI
		for _, kv := range next.Headers {
			headers = append(headers, kv.Key, kv.Value)
		}
	}
	resp, body := h.do(http.MethodGet, path, nil, headers...)
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	return decode[pc.OrderCollection](h.g, body)
}

func TestOrderListIsPagedWithContinuationTokens(t *testing.T) {
	h := newHarness(t, Options{OrdersPageSize: 2})
	g := h.g
	want := h.buyOneEach(customerA, 5)
	h.buyOneEach(customerB, 1)

	var got []string
	var pages int
	var next *pc.Link
	for {
		page := h.listPage(customerA, next)
		pages++
		g.Expect(page.TotalCount).To(Equal(len(page.Items)))
		for _, o := range page.Items {
			got = append(got, o.ID)
		}
		if page.Links.Next == nil {
			break
		}
		next = page.Links.Next
		g.Expect(next.Method).To(Equal(http.MethodGet))
		g.Expect(next.Headers).To(HaveLen(1))
		g.Expect(next.Headers[0].Key).To(Equal("MS-ContinuationToken"))
		g.Expect(pages).To(BeNumerically("<", 10))
	}
	g.Expect(pages).To(Equal(3))
	g.Expect(got).To(Equal(want), "every order once, oldest first")

	// A token is of one customer's list.
	first := h.listPage(customerA, nil)
	resp, body := h.do(http.MethodGet, "/v1/customers/"+customerB+"/orders", nil,
		"MS-ContinuationToken", first.Links.Next.Headers[0].Value)
	expectAPIError(g, resp, body, http.StatusBadRequest, "800002")
	resp, body = h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil, "MS-ContinuationToken", "not-a-token")
	expectAPIError(g, resp, body, http.StatusBadRequest, "800002")
}

func TestOrderListIsOnePageByDefault(t *testing.T) {
	h := newHarness(t, Options{})
	want := h.buyOneEach(customerA, 3)
	page := h.listPage(customerA, nil)
	h.g.Expect(page.Items).To(HaveLen(len(want)))
	h.g.Expect(page.Links.Next).To(BeNil())
}

// TestOrdersAreListedAfterTheListingDelay: Partner Center lists a new order only some
// minutes after its creation; the order itself, and the checkout's answer, know it at once.
func TestOrdersAreListedAfterTheListingDelay(t *testing.T) {
	h := newHarness(t, Options{OrderListingDelay: 15 * time.Minute})
	g := h.g
	ids := h.buyOneEach(customerA, 1)

	g.Expect(h.listPage(customerA, nil).Items).To(BeEmpty(), "not listed yet")
	resp, body := h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders/"+ids[0], nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))

	h.clock.Step(15*time.Minute - time.Second)
	g.Expect(h.listPage(customerA, nil).Items).To(BeEmpty())
	h.clock.Step(time.Second)
	page := h.listPage(customerA, nil)
	g.Expect(page.Items).To(HaveLen(1))
	g.Expect(page.Items[0].ID).To(Equal(ids[0]))
}

func TestOrderListOptionsAreValidated(t *testing.T) {
	g := NewWithT(t)
	_, err := New(Options{OrdersPageSize: -1})
	g.Expect(err).To(MatchError(ContainSubstring("page size")))
	_, err = New(Options{OrderListingDelay: -time.Minute})
	g.Expect(err).To(MatchError(ContainSubstring("order listing delay")))
}

// TestReservationTermFromItsLegacyDuration: the published reserved-instance update-a-cart
// request has a line without termDuration that names its term as provisioningContext
// "Duration": "1Year". pcsim's reservation sells P1Y and P3Y; such a line is accepted and
// priced for the duration's term, and keeps no termDuration, as Partner Center's published
// answer shows. Without a duration (or with one the item does not sell) the line is refused
// as Partner Center refuses a missing term (400039: the availability "does not support term"
// with an empty term).
func TestReservationTermFromItsLegacyDuration(t *testing.T) {
	const ri = "DG7GMGF0DWTL:0001:DG7GMGF0DSJB"
	h := newHarness(t, Options{})
	g := h.g

	resp, body := h.sendRaw(http.MethodPost, cartsPath(customerA), readPublished(t, "update-a-cart.request.json"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(body))
	published := decode[pc.Cart](g, body).LineItems[0]
	g.Expect(published.Error).To(BeNil())
	g.Expect(published.TermDuration).To(BeEmpty(), "echoed without a term, as published")
	g.Expect(published.Pricing.Price.String()).To(Equal("1200.00"), "one year at 100.00 a month, paid once")
	g.Expect(published.Pricing.ExtendedPrice.String()).To(Equal("2400.00"))

	withContext := func(id int, term string, pcx pc.ProvisioningContext) pc.CartLineItem {
		l := line(id, ri, 1, "one_time", term)
		l.ProvisioningContext = pcx
		return l
	}
	shared := func(duration string) pc.ProvisioningContext {
		pcx := pc.ProvisioningContext{"scope": "shared", "subscriptionId": "3D5ECED6-1151-44C7-AEE6-70A4BB725666"}
		if duration != "" {
			pcx["duration"] = duration
		}
		return pcx
	}
	ct := h.createCart(customerA,
		withContext(0, "", shared("3Year")),
		withContext(1, "P1Y", shared("")),
		withContext(2, "", shared("")),
		withContext(3, "", shared("5Year")))
	g.Expect(ct.LineItems[0].Error).To(BeNil())
	g.Expect(ct.LineItems[0].Pricing.Price.String()).To(Equal("3600.00"))
	g.Expect(ct.LineItems[1].Error).To(BeNil(), "termDuration works as for any reservation")
	g.Expect(ct.LineItems[1].Pricing.Price.String()).To(Equal("1200.00"))
	for _, i := range []int{2, 3} {
		g.Expect(ct.LineItems[i].Error).NotTo(BeNil(), "line %d", i)
		g.Expect(ct.LineItems[i].Error.ErrorDescription).To(ContainSubstring("does not support term ''"))
	}
}
