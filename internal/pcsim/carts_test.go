package pcsim

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

func TestCreateCartReportsEveryLineErrorKind(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	riContext := pc.ProvisioningContext{"scope": "shared", "subscriptionId": "plan-1"}
	commitment := &pc.PurchaseCommitment{Amount: "100", Currency: "USD", Grain: "monthly"}

	withAttestation := line(9, w365, 5, "monthly", "P1M")
	withAttestation.AttestationAccepted = ptr(false)
	riNoSub := line(11, reservedVM, 1, "one_time", "P1Y")
	riNoSub.ProvisioningContext = pc.ProvisioningContext{"scope": "shared"}
	riBadScope := line(12, reservedVM, 1, "one_time", "P1Y")
	riBadScope.ProvisioningContext = pc.ProvisioningContext{"scope": "galaxy", "subscriptionId": "plan-1"}
	spNoCommitment := line(13, savingsPlan, 1, "one_time", "P1Y")

	cases := []struct {
		line pc.CartLineItem
		code int
		desc string
	}{
		{line(1, "NOPE0000000:0001:NOPE", 1, "monthly", "P1M"), 400013, "Product NOPE0000000"},
		{line(2, "CFQ7TTC0LF8S:0001:CFQ7TTC0XXXX", 1, "monthly", "P1M"), 400019, "Availability CFQ7TTC0LF8S:0001:CFQ7TTC0XXXX"},
		{line(3, "CFQ7TTC0LF8S:9999:CFQ7TTC0N81H", 1, "monthly", "P1M"), 400019, "was not found"},
		{line(4, e5, 2501, "monthly", "P1M"), 10010, "maximum of 2500"},
		{line(5, e5, 0, "monthly", "P1M"), 10010, "maximum of 2500"},
		{line(6, businessBas, 301, "monthly", "P1M"), 10010, "maximum of 300"},
		{line(7, e5, 1, "triennial", "P1M"), 10010, "Billing cycle 'triennial'"},
		{line(8, e5, 1, "monthly", "P3Y"), 10010, "does not support term 'P3Y'"},
		{line(10, w365, 5, "monthly", "P1M"), 10012, "Attestation"},
		{withAttestation, 10012, "Attestation"},
		{riNoSub, 900317, "subscriptionId"},
		{riBadScope, 900312, "Scope 'galaxy'"},
		{spNoCommitment, 10010, "purchaseCommitment"},
	}
	var lines []pc.CartLineItem
	for _, c := range cases {
		lines = append(lines, c.line)
	}
	ri := line(20, reservedVM, 2, "one_time", "P3Y")
	ri.ProvisioningContext = riContext
	sp := line(21, savingsPlan, 1, "one_time", "P1Y")
	sp.PurchaseCommitment = commitment
	lines = append(lines, ri, sp)

	ct := h.createCart(customerA, lines...)
	g.Expect(uuid.Validate(ct.ID)).To(Succeed())
	g.Expect(ct.Status).To(Equal(pc.CartStatusActive))
	g.Expect(ct.LineItems).To(HaveLen(len(cases) + 2))
	for i, c := range cases {
		got := ct.LineItems[i]
		g.Expect(got.ID).To(Equal(c.line.ID))
		g.Expect(got.Error).NotTo(BeNil(), "line %d", c.line.ID)
		g.Expect(int(got.Error.ErrorCode)).To(Equal(c.code), "line %d: %s", c.line.ID, got.Error.ErrorDescription)
		g.Expect(got.Error.ErrorDescription).To(ContainSubstring(c.desc), "line %d", c.line.ID)
		g.Expect(got.Pricing).To(BeNil())
		g.Expect(got.OrderGroup).To(BeEmpty())
	}
	gotRI, gotSP := ct.LineItems[len(cases)], ct.LineItems[len(cases)+1]
	g.Expect(gotRI.Error).To(BeNil())
	g.Expect(gotRI.Pricing.Price.String()).To(Equal("2522.88"), "36 x 70.08")
	g.Expect(gotRI.Pricing.ExtendedPrice.String()).To(Equal("5045.76"))
	g.Expect(gotSP.Error).To(BeNil())
	g.Expect(gotSP.Pricing.Price.String()).To(Equal("1200.00"), "12 x the monthly commitment")

	// The line errors block checkout.
	resp, body := h.checkout(customerA, ct.ID)
	expectAPIError(g, resp, body, http.StatusBadRequest, "800009")
}

func TestCreateCartPricesAndGroupsValidLines(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	base := line(0, e5, 10, "Annual", "p1y") // casing as in the docs' NCE sample
	base.AddonItems = []pc.CartLineItem{line(1, teamsPhone, 10, "annual", "P1Y")}
	monthly := line(2, businessBas, 3, "monthly", "P1M")
	attested := line(3, w365, 2, "monthly", "P1M")
	attested.AttestationAccepted = ptr(true)

	ct := h.createCart(customerA, base, monthly, attested)
	g.Expect(ct.CreationTimestamp).To(Equal("2026-03-01T12:00:00Z"))
	g.Expect(ct.LastModifiedTimestamp).To(Equal(ct.CreationTimestamp))
	g.Expect(ct.ExpirationTimestamp).To(Equal("2026-03-08T12:00:00Z"), "168h after creation")
	g.Expect(ct.LastModifiedUser).To(Equal("any-app"))
	g.Expect(ct.Attributes.ObjectType).To(Equal("Cart"))

	e := ct.LineItems[0]
	g.Expect(e.Error).To(BeNil())
	g.Expect(e.CurrencyCode).To(Equal("USD"))
	g.Expect(e.BillingCycle).To(Equal("annual"))
	g.Expect(e.TermDuration).To(Equal("P1Y"))
	g.Expect(e.OrderGroup).To(Equal("0"))
	g.Expect(*e.Pricing).To(Equal(pc.Pricing{
		ListPrice: "684.00", DiscountedPrice: "684.00", ProratedPrice: "684.00", Price: "684.00", ExtendedPrice: "6840.00",
	}))
	g.Expect(e.AddonItems).To(HaveLen(1))
	g.Expect(e.AddonItems[0].OrderGroup).To(Equal("0"), "add-ons follow their parent")
	g.Expect(e.AddonItems[0].Pricing.ExtendedPrice.String()).To(Equal("1200.00"))
	g.Expect(ct.LineItems[1].OrderGroup).To(Equal("1"))
	g.Expect(ct.LineItems[1].Pricing.ExtendedPrice.String()).To(Equal("18.00"))
	g.Expect(ct.LineItems[2].OrderGroup).To(Equal("1"), "same billing cycle, same order")
	g.Expect(ct.LineItems[2].Pricing.ExtendedPrice.String()).To(Equal("82.00"))

	// The same cart reads back identically.
	resp, body := h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(decode[pc.Cart](g, body)).To(Equal(ct))
}

func TestAddonOfABrokenParentGetsNoOrderGroup(t *testing.T) {
	h := newHarness(t, Options{})
	base := line(0, e5, 9999, "annual", "P1Y")
	base.AddonItems = []pc.CartLineItem{line(1, teamsPhone, 10, "annual", "P1Y")}
	ct := h.createCart(customerA, base)
	h.g.Expect(ct.LineItems[0].Error).NotTo(BeNil())
	h.g.Expect(ct.LineItems[0].AddonItems[0].Error).To(BeNil())
	h.g.Expect(ct.LineItems[0].AddonItems[0].OrderGroup).To(BeEmpty())
}

func TestCreateCartRejectsBadBodies(t *testing.T) {
	h := newHarness(t, Options{})
	resp, body := h.do(http.MethodPost, cartsPath(customerA), pc.Cart{})
	expectAPIError(h.g, resp, body, http.StatusBadRequest, "800002")
	resp, body = h.do(http.MethodPost, cartsPath(customerA), json.RawMessage(`{"lineItems": 7}`))
	expectAPIError(h.g, resp, body, http.StatusBadRequest, "800002")
	h.g.Expect(h.srv.Stats().CartsCreated).To(BeZero())
}

func TestUpdateCartReplacesLines(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 1000, "monthly", "P1M"), line(1, businessBas, 5, "monthly", "P1M"))
	h.clock.Step(time.Hour)

	put := ct
	put.LineItems = []pc.CartLineItem{line(7, e5, 3000, "monthly", "P1M")}
	resp, body := h.do(http.MethodPut, cartPath(customerA, ct.ID), put)
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(body))
	updated := decode[pc.Cart](g, body)
	g.Expect(updated.LineItems).To(HaveLen(1))
	g.Expect(updated.LineItems[0].ID).To(Equal(7))
	g.Expect(int(updated.LineItems[0].Error.ErrorCode)).To(Equal(10010))
	g.Expect(updated.LastModifiedTimestamp).To(Equal("2026-03-01T13:00:00Z"))
	g.Expect(updated.ExpirationTimestamp).To(Equal(ct.ExpirationTimestamp), "expiry counts from creation")

	put.LineItems = []pc.CartLineItem{line(7, e5, 25, "monthly", "P1M")}
	resp, body = h.do(http.MethodPut, cartPath(customerA, ct.ID), put)
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
	updated = decode[pc.Cart](g, body)
	g.Expect(updated.LineItems[0].Error).To(BeNil())
	g.Expect(updated.LineItems[0].Pricing.ExtendedPrice.String()).To(Equal("1425.00"))

	resp, body = h.do(http.MethodPut, cartPath(customerB, ct.ID), put)
	expectAPIError(g, resp, body, http.StatusNotFound, "800008")

	h.checkoutOK(customerA, ct.ID)
	resp, body = h.do(http.MethodPut, cartPath(customerA, ct.ID), put)
	expectAPIError(g, resp, body, http.StatusBadRequest, "800065")
}

func TestExpiredCartsAreGone(t *testing.T) {
	h := newHarness(t, Options{CartTTL: time.Hour})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	g.Expect(ct.ExpirationTimestamp).To(Equal("2026-03-01T13:00:00Z"))

	h.clock.Step(59 * time.Minute)
	resp, _ := h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	h.clock.Step(time.Minute)
	resp, body := h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	expectAPIError(g, resp, body, http.StatusNotFound, "800008")
	resp, body = h.do(http.MethodPut, cartPath(customerA, ct.ID), ct)
	expectAPIError(g, resp, body, http.StatusNotFound, "800008")
	resp, body = h.checkout(customerA, ct.ID)
	expectAPIError(g, resp, body, http.StatusNotFound, "800008")
	g.Expect(h.srv.Stats().OrdersCreated).To(BeZero())
}

func TestExpireCartForTests(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	g.Expect(h.srv.ExpireCart(ct.ID)).To(BeTrue())
	g.Expect(h.srv.ExpireCart("no-such-cart")).To(BeFalse())
	resp, body := h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	expectAPIError(g, resp, body, http.StatusNotFound, "800008")

	// The admin endpoint does the same; ordered carts never expire.
	ordered := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	h.checkoutOK(customerA, ordered.ID)
	resp, _ = h.admin(http.MethodPost, "/_pcsim/carts/"+ordered.ID+"/expire", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	active := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	resp, _ = h.admin(http.MethodPost, "/_pcsim/carts/"+active.ID+"/expire", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
	resp, _ = h.do(http.MethodGet, cartPath(customerA, active.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	resp, _ = h.do(http.MethodGet, cartPath(customerA, ordered.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
}

func TestCartsBelongToTheirCustomer(t *testing.T) {
	h := newHarness(t, Options{})
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	resp, body := h.do(http.MethodGet, cartPath(customerB, ct.ID), nil)
	expectAPIError(h.g, resp, body, http.StatusNotFound, "800008")
	resp, body = h.checkout(customerB, ct.ID)
	expectAPIError(h.g, resp, body, http.StatusNotFound, "800008")
}
