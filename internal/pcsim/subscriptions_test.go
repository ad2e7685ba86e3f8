package pcsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

func subsPath(customer string) string { return "/v1/customers/" + customer + "/subscriptions" }

func subPath(customer, id string) string { return subsPath(customer) + "/" + id }

// buySubscriptions buys the lines, lets the order complete and returns its order and the
// subscriptions as GET .../subscriptions?order_id= lists them (raw JSON objects).
func (h *harness) buySubscriptions(customer string, lines ...pc.CartLineItem) (pc.Order, []map[string]any) {
	h.t.Helper()
	ct := h.createCart(customer, lines...)
	res := h.checkoutOK(customer, ct.ID)
	h.g.Expect(res.Orders).To(HaveLen(1))
	h.clock.Step(DefaultOrderCompleteAfter)
	resp, body := h.do(http.MethodGet, "/v1/customers/"+customer+"/orders/"+res.Orders[0].ID, nil)
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	order := decode[pc.Order](h.g, body)
	resp, body = h.do(http.MethodGet, subsPath(customer)+"?order_id="+order.ID, nil)
	h.g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	var coll struct {
		TotalCount int              `json:"totalCount"`
		Items      []map[string]any `json:"items"`
		Links      map[string]any   `json:"links"`
	}
	h.g.Expect(json.Unmarshal(body, &coll)).To(Succeed())
	h.g.Expect(coll.TotalCount).To(Equal(len(coll.Items)))
	h.g.Expect(coll.Links).To(HaveKey("self"))
	return order, coll.Items
}

// patchSub sends the subscription with changes applied; headers as in send.
func (h *harness) patchSub(customer string, sub map[string]any, changes map[string]any, headers ...string) (*reply, []byte) {
	h.t.Helper()
	return h.do(http.MethodPatch, subPath(customer, sub["id"].(string)), withChanges(sub, changes), headers...)
}

func cancelChange() map[string]any { return map[string]any{"status": pc.SubscriptionDeleted} }

func TestSubscriptionsOfACompletedOrder(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 3, "monthly", "P1Y"))
	res := h.checkoutOK(customerA, ct.ID)
	orderID := res.Orders[0].ID

	resp, body := h.do(http.MethodGet, subsPath(customerA)+"?order_id="+orderID, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(string(body)).To(ContainSubstring(`"totalCount":0`), "a pending order has no subscriptions yet")

	order, subs := h.buySubscriptions(customerA, line(0, e5, 3, "monthly", "P1Y"))
	g.Expect(subs).To(HaveLen(1))
	sub := subs[0]
	g.Expect(sub["id"]).To(Equal(order.LineItems[0].SubscriptionID))
	g.Expect(sub).To(HaveKeyWithValue("orderId", order.ID))
	g.Expect(sub).To(HaveKeyWithValue("offerId", e5))
	g.Expect(sub).To(HaveKeyWithValue("status", "active"))
	g.Expect(sub).To(HaveKeyWithValue("quantity", BeNumerically("==", 3)))
	g.Expect(sub).To(HaveKeyWithValue("billingCycle", "monthly"))
	g.Expect(sub).To(HaveKeyWithValue("termDuration", "P1Y"))
	purchase := h.clock.Now().Add(-DefaultOrderCompleteAfter)
	g.Expect(sub).To(HaveKeyWithValue("creationDate", timestamp(purchase)))
	g.Expect(sub).To(HaveKeyWithValue("cancellationAllowedUntilDate", timestamp(purchase.Add(168*time.Hour))))
	g.Expect(sub).To(HaveKeyWithValue("commitmentEndDate", timestamp(purchase.AddDate(1, 0, 0))))
	g.Expect(sub["refundOptions"]).To(Equal([]any{
		map[string]any{"type": "Full", "expiresAt": timestamp(purchase.Add(24 * time.Hour))},
		map[string]any{"type": "Partial", "expiresAt": timestamp(purchase.Add(168 * time.Hour))},
	}))
	g.Expect(sub["actions"]).To(Equal([]any{"edit", "cancel"}))
	for _, unmodelled := range []string{"autoRenewEnabled", "contractType", "links", "attributes", "publisherName"} {
		g.Expect(sub).To(HaveKey(unmodelled))
	}

	resp, body = h.do(http.MethodGet, subPath(customerA, sub["id"].(string)), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	var read pc.Subscription
	g.Expect(json.Unmarshal(body, &read)).To(Succeed())
	g.Expect(read.OrderID).To(Equal(order.ID))
	g.Expect(read.RefundAt(h.clock.Now())).To(Equal(pc.RefundFull))

	resp, body = h.do(http.MethodGet, subPath(customerB, sub["id"].(string)), nil)
	expectAPIError(g, resp, body, http.StatusNotFound, "20003")
	resp, body = h.do(http.MethodGet, subPath(customerA, "5f2d3c1e-0000-4000-8000-000000000000"), nil)
	expectAPIError(g, resp, body, http.StatusNotFound, "20003")

	resp, body = h.do(http.MethodGet, subsPath(customerB)+"?order_id="+order.ID, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(string(body)).To(ContainSubstring(`"totalCount":0`), "another customer's order lists nothing")
	resp, body = h.do(http.MethodGet, subsPath(customerA), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(string(body)).To(ContainSubstring(`"totalCount":2`), "both orders' subscriptions")

	g.Expect(h.srv.Subscriptions()).To(HaveLen(2))
}

func TestCancelSubscriptionWithinWindowThenRepeat(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	order, subs := h.buySubscriptions(customerA, line(0, e5, 2, "monthly", "P1M"))
	sub := subs[0]

	resp, body := h.patchSub(customerA, sub, cancelChange(), "MS-RequestId", "req-1")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	out := decode[map[string]any](g, body)
	g.Expect(out).To(HaveKeyWithValue("status", "deleted"))
	g.Expect(out["actions"]).To(BeEmpty())

	resp, body = h.do(http.MethodGet, subPath(customerA, sub["id"].(string)), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(decode[map[string]any](g, body)).To(HaveKeyWithValue("status", "deleted"))

	resp, body = h.patchSub(customerA, sub, cancelChange(), "MS-RequestId", "req-2")
	expectAPIError(g, resp, body, http.StatusBadRequest, "900279")
	resp, body = h.patchSub(customerA, sub, map[string]any{"quantity": 5}, "MS-RequestId", "req-3")
	expectAPIError(g, resp, body, http.StatusBadRequest, "900279")

	st := h.srv.Stats()
	g.Expect(st.SubscriptionsCancelled).To(Equal(1))
	g.Expect(st.DuplicateCancels).To(Equal(1), "only the repeated cancel counts, not the quantity PATCH")
	price, err := parseCents(order.LineItems[0].Pricing.Price.String())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.Refunds).To(HaveLen(1))
	g.Expect(st.Refunds[0]).To(refundIs(sub["id"].(string), order.ID, pc.RefundFull, formatCents(2*price).String()))
	g.Expect(st.RefundedFull).To(Equal(map[string]string{"USD": formatCents(2 * price).String()}))
	g.Expect(st.Requests[opUpdateSubscription]).To(Equal(map[int]int{200: 1, 400: 2}))
	g.Expect(h.srv.Subscriptions()[0].Refund).To(Equal(pc.RefundFull))
}

// refundIs matches a refund record's identity, type and amount.
func refundIs(subID, orderID, kind, amount string) OmegaMatcher {
	return And(
		WithTransform(func(r RefundRecord) string { return r.SubscriptionID }, Equal(subID)),
		WithTransform(func(r RefundRecord) string { return r.OrderID }, Equal(orderID)),
		WithTransform(func(r RefundRecord) string { return r.Type }, Equal(kind)),
		WithTransform(func(r RefundRecord) string { return r.Amount }, Equal(amount)),
		WithTransform(func(r RefundRecord) string { return r.Currency }, Equal("USD")),
	)
}

func TestCancelSubscriptionAfterFullRefundAndAfterWindow(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	_, subs := h.buySubscriptions(customerA, line(0, e5, 1, "monthly", "P1M"), line(1, businessBas, 1, "monthly", "P1M"))
	g.Expect(subs).To(HaveLen(2))

	h.clock.Step(48 * time.Hour) // past the Full refund, within the window
	resp, body := h.do(http.MethodGet, subPath(customerA, subs[0]["id"].(string)), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(decode[map[string]any](g, body)["refundOptions"]).To(HaveLen(1), "only Partial is left")
	resp, body = h.patchSub(customerA, subs[0], cancelChange())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	st := h.srv.Stats()
	g.Expect(st.Refunds).To(HaveLen(1))
	g.Expect(st.Refunds[0].Type).To(Equal(pc.RefundPartial))
	g.Expect(st.Refunds[0].Amount).To(BeEmpty())
	g.Expect(st.RefundedFull).To(BeEmpty())

	h.clock.Step(120 * time.Hour) // 168h after the purchase: the window has closed
	resp, body = h.patchSub(customerA, subs[1], cancelChange())
	expectAPIError(g, resp, body, http.StatusBadRequest, "900213")
	g.Expect(decode[pc.ErrorBody](g, body).Description).To(Equal(
		"You have passed your 168-hour cancellation window. We are unable to cancel your purchase"))
	resp, body = h.do(http.MethodGet, subPath(customerA, subs[1]["id"].(string)), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	after := decode[map[string]any](g, body)
	g.Expect(after).To(HaveKeyWithValue("status", "active"))
	g.Expect(after["actions"]).To(Equal([]any{"edit"}))
	g.Expect(h.srv.Stats().SubscriptionsCancelled).To(Equal(1))
}

func TestBackdateSubscriptionClosesTheWindow(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	_, subs := h.buySubscriptions(customerA, line(0, e5, 1, "monthly", "P1M"), line(1, businessBas, 1, "monthly", "P1M"))
	id0, id1 := subs[0]["id"].(string), subs[1]["id"].(string)

	g.Expect(h.srv.BackdateSubscription(id0, 169*time.Hour)).To(BeTrue())
	g.Expect(h.srv.BackdateSubscription("no-such-subscription", time.Hour)).To(BeFalse())
	resp, body := h.patchSub(customerA, subs[0], cancelChange())
	expectAPIError(g, resp, body, http.StatusBadRequest, "900213")

	resp, body = h.admin(http.MethodPost, "/_pcsim/subscriptions/"+id1+"/backdate", `{"by":"169h"}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusNoContent), string(body))
	resp, body = h.patchSub(customerA, subs[1], cancelChange())
	expectAPIError(g, resp, body, http.StatusBadRequest, "900213")
	resp, _ = h.admin(http.MethodPost, "/_pcsim/subscriptions/nope/backdate", `{"by":"1h"}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	resp, _ = h.admin(http.MethodPost, "/_pcsim/subscriptions/"+id1+"/backdate", `{"by":"soon"}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))

	resp, body = h.admin(http.MethodGet, "/_pcsim/subscriptions", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	recs := decode[[]SubscriptionRecord](g, body)
	g.Expect(recs).To(HaveLen(2))
	g.Expect(recs[0].SubscriptionID).To(Equal(id0))
	g.Expect(recs[0].Status).To(Equal("active"))
}

func TestSubscriptionQuantityChanges(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	_, subs := h.buySubscriptions(customerA, line(0, e5, 5, "monthly", "P1M"))
	sub := subs[0]

	resp, body := h.patchSub(customerA, sub, map[string]any{"quantity": 3})
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	g.Expect(decode[map[string]any](g, body)).To(HaveKeyWithValue("quantity", BeNumerically("==", 3)))
	resp, body = h.patchSub(customerA, sub, map[string]any{"quantity": 0})
	expectAPIError(g, resp, body, http.StatusBadRequest, "800002")

	h.clock.Step(CancellationWindow)
	resp, body = h.patchSub(customerA, sub, map[string]any{"quantity": 2})
	expectAPIError(g, resp, body, http.StatusBadRequest, "900214")
	resp, body = h.patchSub(customerA, sub, map[string]any{"quantity": 7})
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	g.Expect(decode[map[string]any](g, body)).To(HaveKeyWithValue("quantity", BeNumerically("==", 7)))
	resp, body = h.patchSub(customerA, sub, map[string]any{"status": "suspended"})
	expectAPIError(g, resp, body, http.StatusBadRequest, "800002")
	g.Expect(h.srv.Stats().SubscriptionsCancelled).To(BeZero())
}

func TestSubscriptionPatchNeedsTheWholeResource(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	_, subs := h.buySubscriptions(customerA, line(0, e5, 1, "monthly", "P1M"))
	sub := subs[0]
	id := sub["id"].(string)

	partial := map[string]any{"id": id, "status": "deleted", "quantity": 1}
	resp, body := h.do(http.MethodPatch, subPath(customerA, id), partial)
	expectAPIError(g, resp, body, http.StatusBadRequest, "800002")
	g.Expect(string(body)).To(ContainSubstring("links"))
	g.Expect(string(body)).To(ContainSubstring("contractType"))

	other := map[string]any{}
	for k, v := range sub {
		other[k] = v
	}
	other["status"] = "deleted"
	other["id"] = "another-subscription"
	resp, body = h.do(http.MethodPatch, subPath(customerA, id), other)
	expectAPIError(g, resp, body, http.StatusBadRequest, "800002")
	g.Expect(string(body)).To(ContainSubstring("does not match"))

	resp, body = h.do(http.MethodPatch, subPath(customerB, id), sub)
	expectAPIError(g, resp, body, http.StatusNotFound, "20003")
	g.Expect(h.srv.Stats().SubscriptionsCancelled).To(BeZero())
}

func TestSubscriptionPatchReplayByRequestID(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	_, subs := h.buySubscriptions(customerA, line(0, e5, 1, "monthly", "P1M"))

	resp1, body1 := h.patchSub(customerA, subs[0], cancelChange(), "MS-RequestId", "cancel-1")
	g.Expect(resp1.StatusCode).To(Equal(http.StatusOK), string(body1))
	resp2, body2 := h.patchSub(customerA, subs[0], cancelChange(), "MS-RequestId", "cancel-1")
	g.Expect(resp2.StatusCode).To(Equal(http.StatusOK), string(body2))
	g.Expect(body2).To(Equal(body1))

	st := h.srv.Stats()
	g.Expect(st.ReplayedRequests).To(Equal(1))
	g.Expect(st.SubscriptionsCancelled).To(Equal(1))
	g.Expect(st.DuplicateCancels).To(BeZero(), "a replay is not a second cancel")
}

func TestSubscriptionFaults(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	_, subs := h.buySubscriptions(customerA, line(0, e5, 1, "monthly", "P1M"),
		line(1, businessBas, 1, "monthly", "P1M"), line(2, teamsPhone, 1, "monthly", "P1M"))
	g.Expect(subs).To(HaveLen(3))
	byOffer := map[string]map[string]any{}
	for _, s := range subs {
		byOffer[s["offerId"].(string)] = s
	}

	// NotReady by subscription ID: two 409 800082, then the cancellation goes through.
	notReady := byOffer[e5]
	h.srv.SetSubscriptionFault(notReady["id"].(string), SubscriptionFault{NotReady: 2})
	for range 2 {
		resp, body := h.patchSub(customerA, notReady, cancelChange(), "MS-RequestId", "nr")
		expectAPIError(g, resp, body, http.StatusConflict, "800082")
	}
	resp, body := h.patchSub(customerA, notReady, cancelChange(), "MS-RequestId", "nr")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))

	// Refuse by offer ID, set through the admin API; a subscription ID key wins over it.
	refused := byOffer[businessBas]
	resp, body = h.admin(http.MethodPut, "/_pcsim/faults",
		`{"subscriptionFaults":{"`+businessBas+`":{"refuse":"900278"}}}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	g.Expect(h.srv.CurrentFaults().SubscriptionFaults).To(HaveKeyWithValue(businessBas, SubscriptionFault{Refuse: "900278"}))
	resp, body = h.patchSub(customerA, refused, cancelChange())
	expectAPIError(g, resp, body, http.StatusConflict, "900278")
	h.srv.SetSubscriptionFault(refused["id"].(string), SubscriptionFault{Refuse: "900311"})
	resp, body = h.patchSub(customerA, refused, cancelChange())
	expectAPIError(g, resp, body, http.StatusBadRequest, "900311")
	resp, _ = h.admin(http.MethodPut, "/_pcsim/faults", `{"subscriptionFaults":{"x":{"refuse":"abc"}}}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))

	// LoseAnswer: the cancellation happens, the connection closes; a retry with the same
	// request ID gets the stored answer, one with another ID gets 900279.
	lost := byOffer[teamsPhone]
	h.srv.SetSubscriptionFault(teamsPhone, SubscriptionFault{LoseAnswer: true})
	body0, err := json.Marshal(withChanges(lost, cancelChange()))
	g.Expect(err).NotTo(HaveOccurred())
	_, _, err = h.send(http.MethodPatch, subPath(customerA, lost["id"].(string)), json.RawMessage(body0), "MS-RequestId", "lost-1")
	g.Expect(err).To(HaveOccurred(), "the answer is lost")
	resp, body = h.patchSub(customerA, lost, cancelChange(), "MS-RequestId", "lost-1")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	g.Expect(decode[map[string]any](g, body)).To(HaveKeyWithValue("status", "deleted"))
	resp, body = h.patchSub(customerA, lost, cancelChange(), "MS-RequestId", "lost-2")
	expectAPIError(g, resp, body, http.StatusBadRequest, "900279")

	st := h.srv.Stats()
	g.Expect(st.SubscriptionsCancelled).To(Equal(2))
	g.Expect(st.DuplicateCancels).To(Equal(1))
	g.Expect(st.Faults).To(HaveKeyWithValue("subscriptionNotReady", 2))
	g.Expect(st.Faults).To(HaveKeyWithValue("subscriptionRefuse", 2))
	g.Expect(st.Faults).To(HaveKeyWithValue("subscriptionLoseAnswer", 1))
	g.Expect(st.Requests[opUpdateSubscription]).To(HaveKeyWithValue(0, 1))

	h.srv.SetSubscriptionFault(teamsPhone, SubscriptionFault{})
	g.Expect(h.srv.CurrentFaults().SubscriptionFaults).NotTo(HaveKey(teamsPhone))
	g.Expect(func() { h.srv.SetSubscriptionFault("k", SubscriptionFault{NotReady: -1}) }).To(Panic())
	g.Expect(strings.Contains(string(body0), `"links"`)).To(BeTrue())
}

func withChanges(sub, changes map[string]any) map[string]any {
	out := make(map[string]any, len(sub))
	for k, v := range sub {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

// TestConcurrentCancelsCancelOnce: of many concurrent cancellations with distinct request
// IDs, one cancels and the others are duplicates refused with 900279.
func TestConcurrentCancelsCancelOnce(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	_, subs := h.buySubscriptions(customerA, line(0, e5, 1, "monthly", "P1M"))
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _, err := h.send(http.MethodPatch, subPath(customerA, subs[0]["id"].(string)),
				withChanges(subs[0], cancelChange()), "MS-RequestId", fmt.Sprintf("c-%d", i))
			if err == nil {
				statuses <- resp.StatusCode
			}
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	g.Expect(count).To(Equal(map[int]int{200: 1, 400: n - 1}))
	st := h.srv.Stats()
	g.Expect(st.SubscriptionsCancelled).To(Equal(1))
	g.Expect(st.DuplicateCancels).To(Equal(n - 1))
	g.Expect(st.Refunds).To(HaveLen(1))
}
