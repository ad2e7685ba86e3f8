package pcsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// cartStatus GETs a cart and returns its status.
func (h *harness) cartStatus(customer, cartID string) string {
	h.t.Helper()
	resp, body := h.do(http.MethodGet, cartPath(customer, cartID), nil)
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	return decode[pc.Cart](h.g, body).Status
}

// checkoutLost POSTs a checkout that must get no answer at all.
func (h *harness) checkoutLost(customer, cartID string, headers ...string) {
	h.t.Helper()
	resp, body, err := h.send(http.MethodPost, cartPath(customer, cartID)+"/checkout", nil, headers...)
	h.g.Expect(err).To(HaveOccurred(), "an answer arrived: %v %s", resp, body)
}

func onItem(item string, cf CheckoutFault) Faults {
	return Faults{CheckoutFaults: map[string]CheckoutFault{item: cf}}
}

func TestRefuseFirstCheckout(t *testing.T) {
	h := newHarness(t, Options{Faults: onItem(e5, CheckoutFault{
		RefuseFirstCheckout: &CheckoutRefusal{Status: http.StatusForbidden, Code: 900121},
	})})
	g := h.g
	affected := h.createCart(customerA, line(0, e5, 10, "annual", "P1Y"))
	other := h.createCart(customerA, line(0, businessBas, 1, "monthly", "P1M"))

	resp, body := h.checkout(customerA, affected.ID, "MS-RequestId", "co-1")
	expectAPIError(g, resp, body, http.StatusForbidden, "900121")
	g.Expect(string(body)).To(ContainSubstring("credit limit"))
	g.Expect(h.srv.Orders()).To(BeEmpty(), "a refusal creates nothing")
	g.Expect(h.cartStatus(customerA, affected.ID)).To(Equal(pc.CartStatusActive))
	g.Expect(h.checkoutOK(customerA, other.ID).Orders).To(HaveLen(1), "a cart without the item is not affected")

	// The refusal is not stored: a repeat of the same MS-RequestId runs for real, and the
	// second POST of the cart goes ahead and buys.
	res := h.checkoutOK(customerA, affected.ID)
	g.Expect(res.Orders).To(HaveLen(1))
	g.Expect(h.cartStatus(customerA, affected.ID)).To(Equal(pc.CartStatusOrdered))
	resp, body = h.checkout(customerA, affected.ID, "MS-RequestId", "co-1")
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(body))

	st := h.srv.Stats()
	g.Expect(st.Faults).To(Equal(map[string]int{faultRefuseFirst: 1}))
	g.Expect(st.Requests[opCheckout]).To(Equal(map[int]int{403: 1, 201: 3}))
	g.Expect(st.CheckoutsExecuted).To(Equal(map[string]int{affected.ID: 3, other.ID: 1}))
	g.Expect(st.OrdersPerCart).To(Equal(map[string]int{affected.ID: 1, other.ID: 1}))
	g.Expect(st.ReplayedRequests).To(BeZero())
	g.Expect(st.DuplicateCheckouts).To(BeZero())
}

func TestRefuseFirstCheckoutCountsDefaultsAndAddOns(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	// Keyed by an add-on's item; defaults: 400 800010, here for the first two POSTs.
	h.srv.SetFaults(onItem(teamsPhone, CheckoutFault{RefuseFirstCheckout: &CheckoutRefusal{Count: 2}}))
	base := line(0, e5, 1, "monthly", "P1M")
	base.AddonItems = []pc.CartLineItem{line(1, teamsPhone, 1, "monthly", "P1M")}
	ct := h.createCart(customerA, base)
	for range 2 {
		resp, body := h.checkout(customerA, ct.ID)
		expectAPIError(g, resp, body, http.StatusBadRequest, "800010")
	}
	g.Expect(h.checkoutOK(customerA, ct.ID).Orders).To(HaveLen(1))

	// A negative count refuses every time; line errors still come first.
	h.srv.SetFaults(onItem(e5, CheckoutFault{RefuseFirstCheckout: &CheckoutRefusal{Count: -1, Status: 409}}))
	always := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	for range 3 {
		resp, body := h.checkout(customerA, always.ID)
		expectAPIError(g, resp, body, http.StatusConflict, "800060")
	}
	broken := h.createCart(customerA, line(0, e5, 99999, "monthly", "P1M"))
	resp, body := h.checkout(customerA, broken.ID)
	expectAPIError(g, resp, body, http.StatusBadRequest, "800009")

	st := h.srv.Stats()
	g.Expect(st.Faults).To(Equal(map[string]int{faultRefuseFirst: 5}))
	g.Expect(st.OrdersCreated).To(Equal(1))
	g.Expect(st.OrdersPerCart).NotTo(HaveKey(always.ID))
}

func TestLoseCheckoutAnswer(t *testing.T) {
	h := newHarness(t, Options{Faults: onItem(e5, CheckoutFault{LoseCheckoutAnswer: true})})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"), line(1, businessBas, 2, "annual", "P1Y"))

	h.checkoutLost(customerA, ct.ID, "MS-RequestId", "co-1")
	g.Expect(h.srv.Orders()).To(HaveLen(2), "committed before the connection was closed")
	g.Expect(h.cartStatus(customerA, ct.ID)).To(Equal(pc.CartStatusOrdered))

	// The same request ID gets the stored answer; another one the cart's result. Only the
	// checkout that ordered the cart loses its answer.
	resp, b1 := h.checkout(customerA, ct.ID, "MS-RequestId", "co-1")
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(b1))
	first := decode[pc.CartCheckoutResult](g, b1)
	g.Expect(first.Orders).To(HaveLen(2))
	g.Expect(first.Orders[0].ID).To(Equal(h.srv.Orders()[0].OrderID))
	again := h.checkoutOK(customerA, ct.ID)
	g.Expect(again).To(Equal(first))

	st := h.srv.Stats()
	g.Expect(st.Faults).To(Equal(map[string]int{faultLoseAnswer: 1}))
	g.Expect(st.Requests[opCheckout]).To(Equal(map[int]int{0: 1, 201: 2}))
	g.Expect(st.ReplayedRequests).To(Equal(1))
	g.Expect(st.CheckoutsExecuted[ct.ID]).To(Equal(2))
	g.Expect(st.OrdersPerCart[ct.ID]).To(Equal(2))
	g.Expect(st.DuplicateCheckouts).To(BeZero())
}

func TestRefuseRepeatCheckout(t *testing.T) {
	h := newHarness(t, Options{Faults: onItem(e5, CheckoutFault{
		LoseCheckoutAnswer:   true,
		RefuseRepeatCheckout: &CheckoutRefusal{Status: http.StatusNotFound, Code: 800008},
	})})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 3, "monthly", "P1M"))
	h.checkoutLost(customerA, ct.ID, "MS-RequestId", "co-1")
	g.Expect(h.cartStatus(customerA, ct.ID)).To(Equal(pc.CartStatusOrdered))

	// Refused before replay: the request ID of the checkout that ordered the cart too.
	for _, id := range []string{"co-1", "co-2", ""} {
		resp, body := h.checkout(customerA, ct.ID, "MS-RequestId", id)
		expectAPIError(g, resp, body, http.StatusNotFound, "800008")
	}
	g.Expect(h.cartStatus(customerA, ct.ID)).To(Equal(pc.CartStatusOrdered), "GET still shows the truth")

	// Default refusal: 400 800065.
	h.srv.SetFaults(onItem(e5, CheckoutFault{RefuseRepeatCheckout: &CheckoutRefusal{}}))
	resp, body := h.checkout(customerA, ct.ID, "MS-RequestId", "co-1")
	expectAPIError(g, resp, body, http.StatusBadRequest, "800065")

	// Without the knob the stored answer of co-1 is replayed, and it holds the one order.
	h.srv.SetFaults(Faults{})
	resp, body = h.checkout(customerA, ct.ID, "MS-RequestId", "co-1")
	g.Expect(resp.StatusCode).To(Equal(http.StatusCreated), string(body))
	g.Expect(decode[pc.CartCheckoutResult](g, body).Orders).To(HaveLen(1))

	// An Active cart is not affected, and Count limits the refusals per cart.
	h.srv.SetFaults(onItem(e5, CheckoutFault{RefuseRepeatCheckout: &CheckoutRefusal{Count: 1, Status: 400, Code: 800065}}))
	fresh := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	res := h.checkoutOK(customerA, fresh.ID)
	resp, body = h.checkout(customerA, fresh.ID)
	expectAPIError(g, resp, body, http.StatusBadRequest, "800065")
	g.Expect(h.checkoutOK(customerA, fresh.ID)).To(Equal(res), "after Count refusals, repeats replay again")

	st := h.srv.Stats()
	g.Expect(st.Faults).To(Equal(map[string]int{faultLoseAnswer: 1, faultRefuseRepeat: 5}))
	g.Expect(st.Requests[opCheckout]).To(Equal(map[int]int{0: 1, 404: 3, 400: 2, 201: 3}))
	g.Expect(st.CheckoutsExecuted).To(Equal(map[string]int{ct.ID: 5, fresh.ID: 3}))
	g.Expect(st.ReplayedRequests).To(Equal(1))
	g.Expect(st.OrdersPerCart).To(Equal(map[string]int{ct.ID: 1, fresh.ID: 1}))
	g.Expect(st.DuplicateCheckouts).To(BeZero())
}

func TestEmptyCheckoutAnswer(t *testing.T) {
	for _, tc := range []struct {
		mode   EmptyAnswer
		status int
		body   string
	}{
		{EmptyAnswerObject, 0, `{}`},
		{EmptyAnswerObject, http.StatusOK, `{}`},
		{EmptyAnswerNull, 0, `null`},
		{EmptyAnswerNoBody, http.StatusOK, ``},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			h := newHarness(t, Options{Faults: onItem(e5, CheckoutFault{EmptyCheckoutAnswer: tc.mode, AnswerStatus: tc.status})})
			g := h.g
			want := tc.status
			if want == 0 {
				want = http.StatusCreated
			}
			ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
			for _, id := range []string{"co-1", "co-1", "co-2"} { // first, replay, repeat
				resp, body := h.checkout(customerA, ct.ID, "MS-RequestId", id)
				g.Expect(resp.StatusCode).To(Equal(want))
				g.Expect(string(body)).To(Equal(tc.body))
				g.Expect(resp.Header.Get("Content-Type")).To(HavePrefix("application/json"))
			}
			g.Expect(h.srv.Orders()).To(HaveLen(1), "the checkout committed")
			g.Expect(h.cartStatus(customerA, ct.ID)).To(Equal(pc.CartStatusOrdered))

			h.srv.SetFaults(Faults{})
			g.Expect(h.checkoutOK(customerA, ct.ID).Orders[0].ID).To(Equal(h.srv.Orders()[0].OrderID))
			st := h.srv.Stats()
			g.Expect(st.Faults).To(Equal(map[string]int{faultEmptyAnswer: 2}), "the replay is not a new fault")
			g.Expect(st.ReplayedRequests).To(Equal(1))
			g.Expect(st.OrdersPerCart[ct.ID]).To(Equal(1))
			g.Expect(st.DuplicateCheckouts).To(BeZero())
		})
	}
}

func TestUndecodableCheckoutAnswer(t *testing.T) {
	for _, tc := range []struct {
		mode UndecodableAnswer
		want string // in the body
	}{
		{UndecodableErrorCode, `"code":"ABC"`},
		{UndecodableTotalPrice, `"totalPrice":"ABC"`},
		{UndecodableTruncated, ``},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			h := newHarness(t, Options{Faults: onItem(e5, CheckoutFault{UndecodableCheckoutAnswer: tc.mode})})
			g := h.g
			ct := h.createCart(customerA, line(0, e5, 10, "annual", "P1Y"), line(1, e5CheckoutKO, 1, "monthly", "P1M"))
			resp, body := h.checkout(customerA, ct.ID, "MS-RequestId", "co-1")
			g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
			g.Expect(string(body)).To(ContainSubstring(tc.want))
			var res pc.CartCheckoutResult
			g.Expect(json.Unmarshal(body, &res)).NotTo(Succeed(), "the operator's models cannot decode %s", body)
			g.Expect(h.srv.Orders()).To(HaveLen(1), "the checkout committed")
			g.Expect(h.cartStatus(customerA, ct.ID)).To(Equal(pc.CartStatusOrdered))
			_, replayed := h.checkout(customerA, ct.ID, "MS-RequestId", "co-1")
			g.Expect(replayed).To(Equal(body))

			h.srv.SetFaults(Faults{})
			_, real := h.checkout(customerA, ct.ID)
			good := decode[pc.CartCheckoutResult](g, real)
			g.Expect(good.Orders).To(HaveLen(1))
			g.Expect(good.OrderErrors).To(HaveLen(1))
			switch tc.mode {
			case UndecodableTruncated:
				g.Expect(body).To(Equal(real[:len(real)/2]))
			default:
				// Only the one field is broken: the rest is the real answer.
				var gotM, realM map[string]any
				g.Expect(json.Unmarshal(body, &gotM)).To(Succeed())
				g.Expect(json.Unmarshal(real, &realM)).To(Succeed())
				g.Expect(gotM["orders"].([]any)[0].(map[string]any)["id"]).To(Equal(good.Orders[0].ID))
				g.Expect(gotM["orderErrors"].([]any)[0].(map[string]any)["orderGroupId"]).To(Equal("1"))
			}
			st := h.srv.Stats()
			g.Expect(st.Faults).To(Equal(map[string]int{faultUndecodableAnswer: 1}))
			g.Expect(st.OrdersPerCart[ct.ID]).To(Equal(1))
			g.Expect(st.DuplicateCheckouts).To(BeZero())
		})
	}
}

func TestUndecodableErrorCodeWithoutOrderErrors(t *testing.T) {
	h := newHarness(t, Options{Faults: onItem(e5, CheckoutFault{UndecodableCheckoutAnswer: UndecodableErrorCode, AnswerStatus: 200})})
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	resp, body := h.checkout(customerA, ct.ID)
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	h.g.Expect(string(body)).To(ContainSubstring(`"orderErrors":[{"code":"ABC"`))
	h.g.Expect(json.Unmarshal(body, &pc.CartCheckoutResult{})).NotTo(Succeed())
}

func TestCheckoutNotFound(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	// Set over the admin endpoint, as an out-of-process test would.
	resp, body := h.admin(http.MethodPut, "/_pcsim/faults", `{"checkoutFaults":{"`+e5+`":{"checkoutNotFound":true}}}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	for _, id := range []string{"co-1", "co-1", "co-2"} {
		resp, body := h.checkout(customerA, ct.ID, "MS-RequestId", id)
		expectAPIError(g, resp, body, http.StatusNotFound, "800008")
	}
	g.Expect(h.cartStatus(customerA, ct.ID)).To(Equal(pc.CartStatusActive), "GET still finds the cart")
	g.Expect(h.srv.Orders()).To(BeEmpty())

	other := h.createCart(customerA, line(0, businessBas, 1, "monthly", "P1M"))
	g.Expect(h.checkoutOK(customerA, other.ID).Orders).To(HaveLen(1))

	// Also an ordered cart, whatever request ID.
	h.srv.SetFaults(Faults{})
	h.checkoutOK(customerA, ct.ID)
	h.srv.SetFaults(onItem(e5, CheckoutFault{CheckoutNotFound: true, RefuseRepeatCheckout: &CheckoutRefusal{}}))
	resp, body = h.checkout(customerA, ct.ID)
	expectAPIError(g, resp, body, http.StatusNotFound, "800008")

	st := h.srv.Stats()
	g.Expect(st.Faults).To(Equal(map[string]int{faultCheckoutNotFound: 4}))
	g.Expect(st.CheckoutsExecuted).To(Equal(map[string]int{ct.ID: 5, other.ID: 1}))
	g.Expect(st.Requests[opCheckout]).To(Equal(map[int]int{404: 4, 201: 2}))
	g.Expect(st.OrdersPerCart).To(Equal(map[string]int{ct.ID: 1, other.ID: 1}))
}

func TestRetryAfterDate(t *testing.T) {
	const year = 365 * 24 * time.Hour
	h := newHarness(t, Options{Faults: Faults{ThrottleRate: 1, RetryAfter: year, RetryAfterDate: true}})
	g := h.g
	resp, body := h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("Mon, 01 Mar 2027 12:00:00 GMT"))
	at, err := http.ParseTime(resp.Header.Get("Retry-After"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(at.Sub(h.clock.Now())).To(Equal(year))
	g.Expect(decode[pc.ThrottleBody](g, body).Message).To(Equal("Rate limit is exceeded. Try again in 31536000 seconds."))

	// Rounded up to the second, so the client never waits less than RetryAfter.
	h.clock.Step(300 * time.Millisecond)
	h.srv.SetFaults(Faults{ThrottleRate: 1, RetryAfter: 1500 * time.Millisecond, RetryAfterDate: true})
	resp, _ = h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("Sun, 01 Mar 2026 12:00:02 GMT"))
	g.Expect(h.srv.Stats().Faults).To(Equal(map[string]int{faultThrottle: 2}))
}

func TestCheckoutFaultsOfSeveralItemsMerge(t *testing.T) {
	// e5 sorts before businessBas, so its refusal wins; the lost answer comes from the other.
	h := newHarness(t, Options{Faults: Faults{CheckoutFaults: map[string]CheckoutFault{
		businessBas: {RefuseFirstCheckout: &CheckoutRefusal{Status: 400}, LoseCheckoutAnswer: true},
		e5:          {RefuseFirstCheckout: &CheckoutRefusal{Status: 403}},
	}}})
	g := h.g
	ct := h.createCart(customerA, line(0, businessBas, 1, "monthly", "P1M"), line(1, e5, 1, "monthly", "P1M"))
	resp, body := h.checkout(customerA, ct.ID)
	expectAPIError(g, resp, body, http.StatusForbidden, "900121")
	h.checkoutLost(customerA, ct.ID)
	g.Expect(h.checkoutOK(customerA, ct.ID).Orders).To(HaveLen(1))
	g.Expect(h.srv.Stats().Faults).To(Equal(map[string]int{faultRefuseFirst: 1, faultLoseAnswer: 1}))
}

func TestCheckoutFaultsJSONAndValidation(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	put := `{"retryAfterDate":true,"checkoutFaults":{
		"` + e5 + `":{"refuseFirstCheckout":{"status":403},"loseCheckoutAnswer":true,"refuseRepeatCheckout":{"status":404,"description":"gone"}},
		"` + businessBas + `":{"emptyCheckoutAnswer":"null","answerStatus":200},
		"` + teamsPhone + `":{"undecodableCheckoutAnswer":"truncated","checkoutNotFound":true}}}`
	resp, body := h.admin(http.MethodPut, "/_pcsim/faults", put)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	want := Faults{RetryAfter: time.Second, RetryAfterDate: true, CheckoutFaults: map[string]CheckoutFault{
		e5: {
			RefuseFirstCheckout:  &CheckoutRefusal{Status: 403, Code: 900121, Count: 1},
			LoseCheckoutAnswer:   true,
			RefuseRepeatCheckout: &CheckoutRefusal{Status: 404, Code: 800008, Description: "gone", Count: -1},
		},
		businessBas: {EmptyCheckoutAnswer: EmptyAnswerNull, AnswerStatus: 200},
		teamsPhone:  {UndecodableCheckoutAnswer: UndecodableTruncated, AnswerStatus: 201, CheckoutNotFound: true},
	}}
	g.Expect(h.srv.CurrentFaults()).To(Equal(want), "defaults filled in")
	g.Expect(decode[Faults](g, body)).To(Equal(want))
	_, body = h.admin(http.MethodGet, "/_pcsim/faults", "")
	g.Expect(string(body)).To(ContainSubstring(`"refuseFirstCheckout":{"status":403,"code":900121,"count":1}`))
	g.Expect(decode[Faults](g, body)).To(Equal(want))

	// CurrentFaults is a copy.
	cur := h.srv.CurrentFaults()
	cur.CheckoutFaults[e5].RefuseFirstCheckout.Status = 499
	delete(cur.CheckoutFaults, businessBas)
	g.Expect(h.srv.CurrentFaults()).To(Equal(want))

	for name, bad := range map[string]string{
		"unknown field":         `{"checkoutFault":{}}`,
		"unknown knob":          `{"checkoutFaults":{"` + e5 + `":{"refuseFirst":{}}}}`,
		"not sold":              `{"checkoutFaults":{"NOPE:0001:NOPE":{"checkoutNotFound":true}}}`,
		"empty item":            `{"checkoutFaults":{"":{"checkoutNotFound":true}}}`,
		"status not 4xx":        `{"checkoutFaults":{"` + e5 + `":{"refuseFirstCheckout":{"status":500}}}}`,
		"repeat status not 4xx": `{"checkoutFaults":{"` + e5 + `":{"refuseRepeatCheckout":{"status":201}}}}`,
		"negative code":         `{"checkoutFaults":{"` + e5 + `":{"refuseRepeatCheckout":{"code":-1}}}}`,
		"unknown empty mode":    `{"checkoutFaults":{"` + e5 + `":{"emptyCheckoutAnswer":"[]"}}}`,
		"unknown undecodable":   `{"checkoutFaults":{"` + e5 + `":{"undecodableCheckoutAnswer":"garbage"}}}`,
		"both answers":          `{"checkoutFaults":{"` + e5 + `":{"emptyCheckoutAnswer":"{}","undecodableCheckoutAnswer":"truncated"}}}`,
		"answer status":         `{"checkoutFaults":{"` + e5 + `":{"emptyCheckoutAnswer":"{}","answerStatus":204}}}`,
	} {
		resp, body := h.admin(http.MethodPut, "/_pcsim/faults", bad)
		g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), name+": "+string(body))
	}
	g.Expect(h.srv.CurrentFaults()).To(Equal(want), "a rejected PUT changes nothing")

	// In process: New refuses, SetFaults panics (a bug in the test).
	_, err := New(Options{Faults: onItem("NOPE:0001:NOPE", CheckoutFault{CheckoutNotFound: true})})
	g.Expect(err).To(MatchError(ContainSubstring("not in the catalog")))
	_, err = New(Options{Faults: onItem(e5, CheckoutFault{RefuseFirstCheckout: &CheckoutRefusal{Status: 302}})})
	g.Expect(err).To(MatchError(ContainSubstring("4xx")))
	g.Expect(func() { h.srv.SetFaults(onItem(e5, CheckoutFault{EmptyCheckoutAnswer: "nothing"})) }).
		To(PanicWith(ContainSubstring("emptyCheckoutAnswer")))

	// Rate-only faults keep their JSON; the caller's map is copied by SetFaults.
	b, err := json.Marshal(Faults{FailRate: 0.5, RetryAfter: time.Second})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).To(Equal(`{"failRate":0.5,"throttleRate":0,"dropAfterCommitRate":0,"retryAfter":"1s"}`))
	mine := onItem(e5, CheckoutFault{CheckoutNotFound: true})
	h.srv.SetFaults(mine)
	mine.CheckoutFaults[e5] = CheckoutFault{}
	g.Expect(h.srv.CurrentFaults().CheckoutFaults[e5].CheckoutNotFound).To(BeTrue())
	g.Expect(strings.Contains(string(b), "checkoutFaults")).To(BeFalse())
}
