package partnercenter

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// Partner Center answers "get all of a customer's orders" with a ResourceCollection: one page
// of items, and while more follow, links.next with the next page's URI and an
// MS-ContinuationToken header. The identical-purchase guard needs every order, so ListOrders
// follows every page or fails.

// orderPage is one page of a customer's orders with a next link when next is not "".
func orderPage(ids []string, nextURI, token string) string {
	items := make([]string, len(ids))
	for i, id := range ids {
		items[i] = fmt.Sprintf(`{"id":%q,"status":"completed"}`, id)
	}
	links := ""
	if nextURI != "" || token != "" {
		links = fmt.Sprintf(`,"links":{"self":{"uri":"/customers/cust/orders","method":"GET","headers":[]},`+
			`"next":{"uri":%q,"method":"GET","headers":[{"key":"MS-ContinuationToken","value":%q}]}}`, nextURI, token)
	}
	return fmt.Sprintf(`{"totalCount":%d,"items":[%s]%s,"attributes":{"objectType":"Collection"}}`,
		len(ids), strings.Join(items, ","), links)
}

func TestListOrdersFollowsEveryPageWithItsContinuationToken(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(
		status(200, orderPage([]string{"o-1", "o-2"}, "/customers/cust/orders?size=2&seekOperation=Next", "token-1")),
		status(500, `{"code":800003,"description":"unexpected"}`), // a page is retried like any GET
		status(200, orderPage([]string{"o-3", "o-4"}, "/v1/customers/cust/orders?size=2&seekOperation=Next", "token-2")),
		status(200, orderPage([]string{"o-5"}, "", "")),
	))
	obs := &recordingObserver{}
	f, _ := newTestFactory(s, func(c *Config) { c.Observer = obs })

	orders, err := mustClient(t, f, testCreds).ListOrders(ctx, "cust")

	g.Expect(err).NotTo(HaveOccurred())
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	g.Expect(ids).To(Equal([]string{"o-1", "o-2", "o-3", "o-4", "o-5"}))
	reqs := s.Requests()
	g.Expect(reqs).To(HaveLen(4))
	g.Expect(reqs[0].URI).To(Equal("/v1/customers/cust/orders"))
	g.Expect(reqs[0].Header.Get("MS-ContinuationToken")).To(BeEmpty())
	for _, i := range []int{1, 2} { // the failed attempt and its retry
		g.Expect(reqs[i].URI).To(Equal("/v1/customers/cust/orders?size=2&seekOperation=Next"))
		g.Expect(reqs[i].Header.Get("MS-ContinuationToken")).To(Equal("token-1"))
		g.Expect(reqs[i].Header.Get("Authorization")).To(Equal("Bearer tok-1"))
	}
	g.Expect(reqs[2].Header.Get("MS-RequestId")).To(Equal(reqs[1].Header.Get("MS-RequestId")), "a retry keeps the page's MS-RequestId")
	g.Expect(reqs[1].Header.Get("MS-RequestId")).NotTo(Equal(reqs[0].Header.Get("MS-RequestId")), "each page is its own call")
	g.Expect(reqs[3].Header.Get("MS-ContinuationToken")).To(Equal("token-2"))
	g.Expect(obs.Observed()).To(Equal([]observation{
		{OpAcquireToken, 200}, {OpListOrders, 200}, {OpListOrders, 500}, {OpListOrders, 200}, {OpListOrders, 200},
	}), "every attempt of every page is observed in the metrics")
}

func TestListOrdersFailsUndecodableRatherThanReturnPartOfTheList(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, orderPage([]string{fmt.Sprintf("o-%d", n)}, "/customers/cust/orders?seekOperation=Next", "same-token"))
	}
	tests := []struct {
		name      string
		api       apiHandler
		wantCause string
		wantCalls int
	}{{
		name:      "more pages than the bound",
		api:       endless,
		wantCause: "more than 100 pages",
		wantCalls: maxOrderPages,
	}, {
		name:      "next link to another customer's orders",
		api:       script(status(200, orderPage([]string{"o-1"}, "/customers/other/orders?seekOperation=Next", "t"))),
		wantCause: "is not the customer's order list",
		wantCalls: 1,
	}, {
		name:      "next link to another resource",
		api:       script(status(200, orderPage([]string{"o-1"}, "/customers/cust/carts/c-1/checkout", "t"))),
		wantCause: "is not the customer's order list",
		wantCalls: 1,
	}, {
		name:      "next link to another host",
		api:       script(status(200, orderPage([]string{"o-1"}, "https://attacker.example/v1/customers/cust/orders", "t"))),
		wantCause: "leaves the Partner Center endpoint",
		wantCalls: 1,
	}, {
		name:      "continuation token that would split the request",
		api:       script(status(200, orderPage([]string{"o-1"}, "/customers/cust/orders", "t\r\nX-Evil: 1"))),
		wantCause: "not a valid header value",
		wantCalls: 1,
	}, {
		name: "a later page undecodable",
		api: script(
			status(200, orderPage([]string{"o-1"}, "/customers/cust/orders?seekOperation=Next", "t")),
			status(200, `{"items":[{"id":"o-2","totalPrice":"twelve"}]}`),
		),
		wantCause: "amount must be a decimal number",
		wantCalls: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := newPCServer(t, tt.api)
			f, _ := newTestFactory(s, nil)

			orders, err := mustClient(t, f, testCreds).ListOrders(ctx, "cust")

			g.Expect(orders).To(BeNil())
			g.Expect(Classify(err)).To(Equal(ClassUndecodable), "%v", err)
			var decodeErr *DecodeError
			g.Expect(errors.As(err, &decodeErr)).To(BeTrue())
			g.Expect(decodeErr.Operation).To(Equal(OpListOrders))
			g.Expect(err.Error()).To(ContainSubstring(tt.wantCause))
			g.Expect(s.Requests()).To(HaveLen(tt.wantCalls))
		})
	}
}

func TestListOrdersAcceptsAbsoluteNextLinkOnTheEndpointAndEmptyNextLink(t *testing.T) {
	g := NewWithT(t)
	var s *pcServer
	s = newPCServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n {
		case 0:
			reply(w, 200, orderPage([]string{"o-1"}, s.srv.URL+"/v1/customers/cust/orders?seekOperation=Next", "t-1"))
		case 1: // a link with only the token continues the same list
			reply(w, 200, orderPage([]string{"o-2"}, "", "t-2"))
		default: // an empty next link ends it
			reply(w, 200, `{"totalCount":1,"items":[{"id":"o-3"}],"links":{"next":{}}}`)
		}
	})
	f, _ := newTestFactory(s, nil)

	orders, err := mustClient(t, f, testCreds).ListOrders(ctx, "cust")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(orders).To(HaveLen(3))
	reqs := s.Requests()
	g.Expect(reqs).To(HaveLen(3))
	g.Expect(reqs[1].URI).To(Equal("/v1/customers/cust/orders?seekOperation=Next"))
	g.Expect(reqs[2].URI).To(Equal("/v1/customers/cust/orders"))
	g.Expect(reqs[2].Header.Get("MS-ContinuationToken")).To(Equal("t-2"))
}

// TestOrderPagesShareOneSizeBudget: paging must not multiply what a customer's order list
// may make the manager hold.
func TestOrderPagesShareOneSizeBudget(t *testing.T) {
	g := NewWithT(t)
	big := `{"items":[{"id":"o","friendlyName":"` + strings.Repeat("x", maxOrdersListBytes/2) + `"}],` +
		`"links":{"next":{"uri":"/customers/cust/orders?seekOperation=Next","headers":[{"key":"MS-ContinuationToken","value":"t"}]}}}`
	s := newPCServer(t, script(status(200, big)))
	f, _ := newTestFactory(s, nil)

	_, err := mustClient(t, f, testCreds).ListOrders(ctx, "cust")

	g.Expect(Classify(err)).To(Equal(ClassUndecodable), "%v", err)
	g.Expect(err.Error()).To(ContainSubstring("larger than"))
	g.Expect(s.Requests()).To(HaveLen(2), "the second half-budget page is over what is left")
}
