package controller

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

func TestMatchingOrders(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	order := func(id string, age time.Duration, cycle string, lines ...partnercenter.OrderLineItem) partnercenter.Order {
		return partnercenter.Order{ID: id, BillingCycle: cycle, CreationDate: now.Add(-age).Format(time.RFC3339), LineItems: lines}
	}
	e5 := func(q int, name string) partnercenter.OrderLineItem {
		return partnercenter.OrderLineItem{OfferID: testItemE5, Quantity: q, TermDuration: "P1Y", FriendlyName: name}
	}
	spec := newCart("ns", "c").Spec.LineItems // 25 x E5 monthly P1Y, named "Contoso E5"
	unnamed := newCart("ns", "c", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].FriendlyName = "" }).Spec.LineItems
	since := now.Add(-7 * 24 * time.Hour)

	for name, tc := range map[string]struct {
		orders []partnercenter.Order
		lines  []pcv1alpha1.CartLineItem
		want   []string
	}{
		"same lines, same name":         {[]partnercenter.Order{order("o1", time.Hour, "monthly", e5(25, "Contoso E5"))}, spec, []string{"o1"}},
		"billing cycle spelled another": {[]partnercenter.Order{order("o1", time.Hour, "Monthly", e5(25, "Contoso E5"))}, spec, []string{"o1"}},
		"another quantity":              {[]partnercenter.Order{order("o1", time.Hour, "monthly", e5(24, "Contoso E5"))}, spec, nil},
		"another name":                  {[]partnercenter.Order{order("o1", time.Hour, "monthly", e5(25, "Fabrikam E5"))}, spec, nil},
		"unnamed spec ignores names":    {[]partnercenter.Order{order("o1", time.Hour, "monthly", e5(25, "whatever"))}, unnamed, []string{"o1"}},
		"older than the window":         {[]partnercenter.Order{order("o1", 8*24*time.Hour, "monthly", e5(25, "Contoso E5"))}, spec, nil},
		"another billing cycle":         {[]partnercenter.Order{order("o1", time.Hour, "annual", e5(25, "Contoso E5"))}, spec, nil},
		"an order with more lines":      {[]partnercenter.Order{order("o1", time.Hour, "monthly", e5(25, "Contoso E5"), e5(1, "x"))}, spec, nil},
		"no orders":                     {nil, spec, nil},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(matchingOrders(tc.orders, tc.lines, since)).To(Equal(tc.want))
		})
	}
}

func TestAdditionalInformationIsKeptCompactAndBounded(t *testing.T) {
	g := NewWithT(t)
	raw := []json.RawMessage{json.RawMessage(`{ "name" : "savings plan",  "id": 1 }`), json.RawMessage(`{broken`)}
	for range 20 {
		raw = append(raw, json.RawMessage(`"`+strings.Repeat("x", 2000)+`"`))
	}
	got := additionalInformation(raw)
	g.Expect(got[0]).To(Equal(`{"name":"savings plan","id":1}`))
	g.Expect(got).To(HaveLen(15), "16 kept, the undecodable one dropped")
	g.Expect(len(got[1])).To(BeNumerically("<=", 1024))
}

// TestOrdersAnswerIsSharedByABurst: carts created before an answer was fetched share it; a
// cart created after it (which could be a re-creation of something bought in between) gets a
// fresh one.
func TestOrdersAnswerIsSharedByABurst(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	pc := pcfake.New(pcfake.WithOrders(partnercenter.Order{ID: "o1"}))
	cart := func(name string, created time.Time) *pcv1alpha1.PartnerCart {
		c := newCart("ns", name)
		c.CreationTimestamp = metav1.NewTime(created)
		return c
	}
	var cache ordersCache
	for i, c := range []*pcv1alpha1.PartnerCart{cart("a", now.Add(-time.Minute)), cart("b", now.Add(-time.Minute)), cart("c", now.Add(-2*time.Second))} {
		orders, err := cache.list(t.Context(), pc, c, now.Add(time.Duration(i)*time.Millisecond))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(orders).To(HaveLen(1))
	}
	g.Expect(pc.Count(partnercenter.OpListOrders)).To(Equal(1))

	_, err := cache.list(t.Context(), pc, cart("late", now.Add(time.Second)), now.Add(2*time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pc.Count(partnercenter.OpListOrders)).To(Equal(2), "created after the answer: fetched again")
	_, err = cache.list(t.Context(), pc, cart("much-later", now), now.Add(ordersCacheTTL+time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pc.Count(partnercenter.OpListOrders)).To(Equal(3), "an old answer is not reused")
}

// TestOrdersFetchInFlightIsShared: carts created before a ListOrders call started wait for its
// answer instead of fetching the list again; a cart created after it started fetches its own.
// The cache keeps only what the guard compares.
func TestOrdersFetchInFlightIsShared(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	pc := pcfake.New()
	pc.ListOrdersFn = func(ctx context.Context, _ string) ([]partnercenter.Order, error) {
		started <- struct{}{}
		<-release
		return []partnercenter.Order{{ID: "o1", CreationDate: now.Format(time.RFC3339), BillingCycle: "monthly", CurrencyCode: "USD",
			TotalPrice: "10", LineItems: []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 2, TermDuration: "P1Y", SubscriptionID: "s1"}}}}, nil
	}
	cart := func(name string, created time.Time) *pcv1alpha1.PartnerCart {
		c := newCart("ns", name)
		c.CreationTimestamp = metav1.NewTime(created)
		return c
	}
	var cache ordersCache
	type answer struct {
		orders []partnercenter.Order
		err    error
	}
	answers := make(chan answer, 3)
	ask := func(c *pcv1alpha1.PartnerCart) {
		go func() {
			orders, err := cache.list(t.Context(), pc, c, now)
			answers <- answer{orders, err}
		}()
	}
	ask(cart("first", now.Add(-time.Minute)))
	<-started
	ask(cart("second", now.Add(-time.Minute)))
	ask(cart("third", now.Add(-30*time.Second)))
	g.Consistently(started).WithTimeout(200*time.Millisecond).ShouldNot(Receive(), "the others wait for the call in flight")
	close(release)
	for range 3 {
		a := <-answers
		g.Expect(a.err).NotTo(HaveOccurred())
		g.Expect(a.orders).To(Equal([]partnercenter.Order{{ID: "o1", CreationDate: now.Format(time.RFC3339), BillingCycle: "monthly",
			LineItems: []partnercenter.OrderLineItem{{OfferID: testItemE5, Quantity: 2, TermDuration: "P1Y"}}}}))
	}
	g.Expect(pc.Count(partnercenter.OpListOrders)).To(Equal(1))

	// Created after the call started: its answer may miss a purchase made in between.
	_, err := cache.list(t.Context(), pc, cart("later", now.Add(time.Second)), now.Add(3*time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pc.Count(partnercenter.OpListOrders)).To(Equal(2))
}

// TestUnreadableOrdersAnswerIsShared: an answer too large to read is shared by the carts
// created before it was fetched like a list would be (a later list only grows), instead of
// every cart reading megabytes again.
func TestUnreadableOrdersAnswerIsShared(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	pc := pcfake.New()
	pc.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) {
		return nil, &partnercenter.DecodeError{Operation: partnercenter.OpListOrders, StatusCode: 200, Cause: "answer is larger than 4194304 bytes"}
	}
	cart := newCart("ns", "c")
	cart.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
	var cache ordersCache
	for i := range 3 {
		_, err := cache.list(t.Context(), pc, cart, now.Add(time.Duration(i)*time.Second))
		g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassUndecodable))
	}
	g.Expect(pc.Count(partnercenter.OpListOrders)).To(Equal(1))

	// Any other failure is this call's: the next cart asks again.
	pc.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) {
		return nil, &partnercenter.APIError{StatusCode: 503}
	}
	later := newCart("ns", "d")
	later.CreationTimestamp = metav1.NewTime(now.Add(10 * time.Second))
	for i := range 2 {
		_, err := cache.list(t.Context(), pc, later, now.Add(time.Duration(20+i)*time.Second))
		g.Expect(err).To(HaveOccurred())
	}
	g.Expect(pc.Count(partnercenter.OpListOrders)).To(Equal(3))
}

// TestUnansweredOrderListIsRetried: the identical-purchase guard could not read the customer's
// orders. Nothing is bought, and the cart comes back on its own: after Retry-After when
// throttled, after the credentials retry when refused, through the work queue's backoff on a
// 5xx. (A throttled list once returned an empty result: the cart stayed Pending until
// something else touched it.) When the list is answered, the checkout goes ahead once.
func TestUnansweredOrderListIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		reason     string
		requeueMin time.Duration // the retry the answer asks for, with its jitter
		requeueMax time.Duration
		wantErr    bool
	}{
		{"throttled", &partnercenter.APIError{Operation: partnercenter.OpListOrders, StatusCode: http.StatusTooManyRequests, RetryAfter: 7 * time.Second},
			pcv1alpha1.ThrottledReason, 7 * time.Second, 9 * time.Second, false},
		{"credentials refused", &partnercenter.APIError{Operation: partnercenter.OpListOrders, StatusCode: http.StatusUnauthorized},
			pcv1alpha1.InvalidCredentialsReason, 48 * time.Second, 72 * time.Second, false},
		{"server error", &partnercenter.APIError{Operation: partnercenter.OpListOrders, StatusCode: http.StatusServiceUnavailable},
			pcv1alpha1.UpstreamUnavailableReason, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f40")
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{},
				Options{CredentialsRetryInterval: time.Minute})
			pc.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) { return nil, tc.err }

			res, err := r.Reconcile(t.Context(), reconcileRequest(cart))
			if tc.wantErr {
				g.Expect(err).To(HaveOccurred(), "a 5xx goes back to the work queue's backoff")
			} else {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(res.RequeueAfter).To(BeNumerically(">=", tc.requeueMin), "the cart must come back by itself")
				g.Expect(res.RequeueAfter).To(BeNumerically("<=", tc.requeueMax), "when the answer says, not after the safety net's backoff")
			}
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
			got := storedCart(t, k8s, cart)
			g.Expect(got.Status.Checkout).To(BeNil(), "no intent without the guard's answer")
			g.Expect(conditionReason(got, pcv1alpha1.ReadyCondition)).To(Equal(tc.reason))

			pc.ListOrdersFn = func(context.Context, string) ([]partnercenter.Order, error) { return nil, nil }
			pcfake.WithCheckoutResult(&partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "completed"}}})(pc)
			_, err = r.Reconcile(t.Context(), reconcileRequest(cart))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
		})
	}
}
