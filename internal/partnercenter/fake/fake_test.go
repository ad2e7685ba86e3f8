package fake_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
)

func TestUnsetFuncFailsLoudly(t *testing.T) {
	g := NewWithT(t)
	c := fake.New()

	_, err := c.Checkout(context.Background(), "cust", "cart", "req")

	g.Expect(err).To(MatchError("fake: Checkout not implemented"))
	g.Expect(c.Calls()).To(Equal([]fake.Call{{Op: partnercenter.OpCheckout, CustomerID: "cust", CartID: "cart", RequestID: "req"}}))
}

func TestCallsAreRecordedConcurrently(t *testing.T) {
	g := NewWithT(t)
	c := fake.New(fake.WithCart(&partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive}))

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { _, _ = c.GetCart(context.Background(), "cust", "cart-1") })
		wg.Go(func() { _, _ = c.ListOrders(context.Background(), "cust") })
	}
	wg.Wait()

	g.Expect(c.Count(partnercenter.OpGetCart)).To(Equal(20))
	g.Expect(c.Count(partnercenter.OpListOrders)).To(Equal(20))
	g.Expect(c.Calls()).To(HaveLen(40))
	c.Reset()
	g.Expect(c.Calls()).To(BeEmpty())
}

func TestWithCartEchoesWhatWasSent(t *testing.T) {
	g := NewWithT(t)
	c := fake.New(fake.WithCart(&partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive}))
	sent := &partnercenter.Cart{LineItems: []partnercenter.CartLineItem{{CatalogItemID: "CFQ7TTC0LH18:0001", Quantity: 5}}}

	got, err := c.UpdateCart(context.Background(), "cust", "cart-1", sent)
	g.Expect(err).NotTo(HaveOccurred())
	sent.LineItems[0].Quantity = 99 // the recorded copy must not change

	g.Expect(got.ID).To(Equal("cart-1"))
	g.Expect(got.LineItems[0].Quantity).To(Equal(5))
	g.Expect(c.Calls()[0].Cart.LineItems[0].Quantity).To(Equal(5))
}

func TestWithOrdersAndWithError(t *testing.T) {
	g := NewWithT(t)
	throttled := &partnercenter.APIError{Operation: partnercenter.OpCheckout, StatusCode: 429}
	c := fake.New(
		fake.WithOrders(partnercenter.Order{ID: "o1"}, partnercenter.Order{ID: "o2"}),
		fake.WithError(partnercenter.OpCheckout, throttled),
	)

	order, err := c.GetOrder(context.Background(), "cust", "o2")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(order.ID).To(Equal("o2"))

	_, err = c.GetOrder(context.Background(), "cust", "missing")
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassNotFound))

	_, err = c.Checkout(context.Background(), "cust", "cart", "req")
	g.Expect(partnercenter.Classify(err)).To(Equal(partnercenter.ClassThrottled))
}

func TestFactoryFailsForChosenCredentials(t *testing.T) {
	g := NewWithT(t)
	client := fake.New()
	f := fake.NewFactory(client)
	good := partnercenter.Credentials{TenantID: "t", ClientID: "c", ClientSecret: "s1"}
	bad := partnercenter.Credentials{TenantID: "t", ClientID: "c", ClientSecret: "s2"}
	refused := errors.New("bad credentials")
	f.FailFor(bad, refused)

	got, err := f.ClientFor(good)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(BeIdenticalTo(client))

	_, err = f.ClientFor(bad)
	g.Expect(err).To(MatchError(refused))
	g.Expect(f.Requested()).To(Equal([]partnercenter.Credentials{good, bad}))
}
