package pcsim

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Microsoft's published samples (internal/partnercenter/testdata/published; SOURCES names each
// page) replayed byte for byte into pcsim: every cart Partner Center accepted, pcsim accepts,
// and where the sample shows a price, pcsim quotes the same.

var publishedDir = filepath.Join("..", "partnercenter", "testdata", "published")

// publishedCarts are the cart bodies among the samples: requests as sent, and answers, which
// a partner sends back with PUT after a GET (the update-a-cart page's own procedure).
var publishedCarts = []string{
	"create-a-cart.attestation.request.json",
	"create-a-cart.attestation.response.json",
	"create-a-cart.multi.request.json",
	"create-a-cart.multi.response.json",
	"create-a-cart.nce.request.json",
	"create-a-cart.nce.response.json",
	"create-a-cart-with-add-ons.legacy.request.json",
	"create-a-cart-with-add-ons.nce.request.json",
	"create-a-cart-with-add-ons.existing-base.request.json",
	"create-a-cart-with-add-ons.legacy.response.json",
	"create-a-cart-with-add-ons.existing-base.response.json",
	"create-a-cart-with-add-ons.nce.response.json",
	"update-a-cart.request.json",
	"update-a-cart.response.json",
	"azure-purchase-savings-plan.create-cart.request.json",
	"azure-purchase-savings-plan.create-cart.response.json",
	"azure-purchase-savings-plan.get-cart.response.json",
	"azure-purchase-savings-plan.update-cart.request.json",
	"azure-purchase-savings-plan.update-cart.response.json",
}

func readPublished(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(publishedDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendRaw sends body exactly as given.
func (h *harness) sendRaw(method, path string, body []byte) (*reply, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.ts.URL+path, bytes.NewReader(body))
	h.g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.ts.Client().Do(req)
	h.g.Expect(err).NotTo(HaveOccurred())
	return readReply(h.g, resp)
}

func TestPublishedCartsAreAcceptedWithAndWithoutAnExistingCart(t *testing.T) {
	for _, name := range publishedCarts {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Options{})
			g := h.g
			body := readPublished(t, name)

			resp, out := h.sendRaw(http.MethodPost, cartsPath(customerA), body)
			g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(out))
			created := decode[pc.Cart](g, out)
			expectNoLineErrors(g, created.LineItems)
			expectPublishedPrices(g, body, created.LineItems)

			resp, out = h.sendRaw(http.MethodPut, cartPath(customerA, created.ID), body)
			g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(out))
			updated := decode[pc.Cart](g, out)
			expectNoLineErrors(g, updated.LineItems)
			expectPublishedPrices(g, body, updated.LineItems)

			result := h.checkoutOK(customerA, created.ID)
			g.Expect(result.OrderErrors).To(BeEmpty())
			g.Expect(result.Orders).NotTo(BeEmpty())
		})
	}
}

func expectNoLineErrors(g *WithT, lines []pc.CartLineItem) {
	for _, l := range lines {
		g.Expect(l.Error).To(BeNil(), "line %d (%s)", l.ID, l.CatalogItemID)
		g.Expect(l.Pricing).NotTo(BeNil(), "line %d (%s) is priced", l.ID, l.CatalogItemID)
		expectNoLineErrors(g, l.AddonItems)
	}
}

// expectPublishedPrices compares pcsim's pricing with every price the sample shows, by value
// (30.4 and 30.40 are the same price).
func expectPublishedPrices(g *WithT, sample []byte, got []pc.CartLineItem) {
	var published pc.Cart
	g.Expect(json.Unmarshal(sample, &published)).To(Succeed())
	byID := map[int]pc.CartLineItem{}
	for _, l := range got {
		byID[l.ID] = l
	}
	for _, want := range published.LineItems {
		if want.Pricing == nil {
			continue
		}
		have := byID[want.ID].Pricing
		g.Expect(have).NotTo(BeNil())
		expectSameAmount(g, have.Price, want.Pricing.Price, "price of line %d", want.ID)
		expectSameAmount(g, have.ListPrice, want.Pricing.ListPrice, "listPrice of line %d", want.ID)
		expectSameAmount(g, have.ExtendedPrice, want.Pricing.ExtendedPrice, "extendedPrice of line %d", want.ID)
	}
}

func expectSameAmount(g *WithT, got, want json.Number, what string, args ...any) {
	if want == "" {
		return
	}
	gr, ok1 := new(big.Rat).SetString(got.String())
	wr, ok2 := new(big.Rat).SetString(want.String())
	g.Expect(ok1 && ok2).To(BeTrue(), "amounts %q and %q", got, want)
	g.ExpectWithOffset(1, gr.Cmp(wr)).To(BeZero(), append([]any{what + ": pcsim %s, published %s"}, append(args, got, want)...)...)
}

// TestPublishedNCEQuoteIsTheWholeTerm replays the NCE cart Partner Center quoted at 30.40 a
// month and 364.80 for the P1Y term (create-a-cart, new-commerce response sample).
func TestPublishedNCEQuoteIsTheWholeTerm(t *testing.T) {
	h := newHarness(t, Options{})
	resp, out := h.sendRaw(http.MethodPost, cartsPath(customerA), readPublished(t, "create-a-cart.nce.response.json"))
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(out))
	cart := decode[pc.Cart](h.g, out)
	h.g.Expect(cart.LineItems[0].Pricing.Price.String()).To(Equal("30.40"))
	h.g.Expect(cart.LineItems[0].Pricing.ExtendedPrice.String()).To(Equal("364.80"))
}

// TestPublishedSavingsPlanIsPricedAsPartnerCenterPricedIt walks the savings-plan page: create
// (scope shared), update to scope single with entitlementId, check out; the order is priced
// as the page's checkout answer shows (0.05 an hour for a year: 438.0).
func TestPublishedSavingsPlanIsPricedAsPartnerCenterPricedIt(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	resp, out := h.sendRaw(http.MethodPost, cartsPath(customerA), readPublished(t, "azure-purchase-savings-plan.create-cart.request.json"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(out))
	cart := decode[pc.Cart](g, out)
	resp, out = h.sendRaw(http.MethodPut, cartPath(customerA, cart.ID), readPublished(t, "azure-purchase-savings-plan.update-cart.request.json"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(out))
	cart = decode[pc.Cart](g, out)
	g.Expect(cart.LineItems[0].ProvisioningContext.Get("scope")).To(Equal("single"))
	g.Expect(cart.LineItems[0].Error).To(BeNil())

	var published pc.CartCheckoutResult
	g.Expect(json.Unmarshal(readPublished(t, "azure-purchase-savings-plan.checkout.response.json"), &published)).To(Succeed())
	want := published.Orders[0]

	got := h.checkoutOK(customerA, cart.ID).Orders[0]
	expectSameAmount(g, got.TotalPrice, want.TotalPrice, "totalPrice")
	expectSameAmount(g, got.LineItems[0].Pricing.Price, want.LineItems[0].Pricing.Price, "price")
	expectSameAmount(g, got.LineItems[0].Pricing.ExtendedPrice, want.LineItems[0].Pricing.ExtendedPrice, "extendedPrice")
	g.Expect(got.LineItems[0].ProvisioningContext.Get("entitlementId")).To(Equal(want.LineItems[0].ProvisioningContext.Get("entitlementId")))
}

// TestPublishedIndirectResellerCheckoutNamesThePartnersOfRecord checks the attribution the
// update-a-cart page's checkout sample shows: the transaction reseller as partnerIdOnRecord,
// the additional ones as additionalPartnerIdsOnRecord.
func TestPublishedIndirectResellerCheckoutNamesThePartnersOfRecord(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	resp, out := h.sendRaw(http.MethodPost, cartsPath(customerA), readPublished(t, "create-a-cart.attestation.request.json"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(out))
	cart := decode[pc.Cart](g, out)

	result := h.checkoutOK(customerA, cart.ID)
	var withReseller *pc.OrderLineItem
	for i := range result.Orders {
		for j := range result.Orders[i].LineItems {
			if l := &result.Orders[i].LineItems[j]; strings.HasPrefix(l.OfferID, "CFQ7TTC0LFLS") {
				withReseller = l
			}
		}
	}
	g.Expect(withReseller).NotTo(BeNil())
	g.Expect(withReseller.PartnerIDOnRecord).To(Equal("5357564"))
	g.Expect(withReseller.AdditionalPartnerIDsOnRecord).To(Equal([]string{"517285", "5357563"}))
}
