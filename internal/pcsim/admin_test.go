package pcsim

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

func TestAdminEndpoints(t *testing.T) {
	h := newHarness(t, Options{Latency: 0})
	g := h.g
	ct := h.createCart(customerA, line(0, e5, 1, "monthly", "P1M"))
	res := h.checkoutOK(customerA, ct.ID)
	h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders/"+res.Orders[0].ID, nil)
	h.do(http.MethodGet, "/v1/customers/"+customerA+"/orders", nil)
	h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	h.do(http.MethodPut, cartPath(customerA, ct.ID), ct) // 400 800065
	h.do(http.MethodGet, "/v1/nothing-here", nil)

	admin := h.admin

	resp, body := admin(http.MethodGet, "/_pcsim/stats", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	st := decode[Stats](g, body)
	g.Expect(st.Requests).To(Equal(map[string]map[int]int{
		opToken: {200: 1}, opCreateCart: {201: 1}, opCheckout: {201: 1}, opGetOrder: {200: 1},
		opListOrders: {200: 1}, opGetCart: {200: 1}, opUpdateCart: {400: 1}, opUnknown: {404: 1},
	}))
	g.Expect(st.CartsCreated).To(Equal(1))
	g.Expect(st.OrdersCreated).To(Equal(1))
	g.Expect(st.OrdersPerCart).To(Equal(map[string]int{ct.ID: 1}))
	g.Expect(st.CheckoutsExecuted).To(Equal(map[string]int{ct.ID: 1}))
	g.Expect(string(body)).To(ContainSubstring(`"duplicateCheckouts":0`))

	resp, body = admin(http.MethodGet, "/_pcsim/orders", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(decode[[]OrderRecord](g, body)).To(Equal(h.srv.Orders()))

	resp, body = admin(http.MethodPut, "/_pcsim/faults", `{"throttleRate":1,"retryAfter":"4s"}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	g.Expect(h.srv.CurrentFaults()).To(Equal(Faults{ThrottleRate: 1, RetryAfter: 4e9}))
	resp, _ = h.do(http.MethodGet, cartPath(customerA, ct.ID), nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	resp, _ = admin(http.MethodGet, "/_pcsim/stats", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "admin calls are never faulted")

	resp, _ = admin(http.MethodPut, "/_pcsim/faults", `{"failRate":2}`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
	resp, _ = admin(http.MethodPut, "/_pcsim/faults", `not json`)
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
	_, body = admin(http.MethodGet, "/_pcsim/faults", "")
	g.Expect(string(body)).To(ContainSubstring(`"retryAfter":"4s"`))

	resp, _ = admin(http.MethodGet, "/_pcsim/healthz", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	resp, _ = admin(http.MethodPost, "/_pcsim/carts/nope/expire", "")
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
}

// TestManyCartsConcurrently drives 500 carts through create, PUT, double checkout
// and order reads from a hundred goroutines; run with -race it also proves the locking.
func TestManyCartsConcurrently(t *testing.T) {
	h := newHarness(t, Options{})
	g := h.g
	const workers, perWorker = 100, 5
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs <- buyCarts(h, w, perWorker)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	st := h.srv.Stats()
	g.Expect(st.CartsCreated).To(Equal(workers * perWorker))
	g.Expect(st.OrdersCreated).To(Equal(workers * perWorker))
	g.Expect(st.DuplicateCheckouts).To(BeZero())
	g.Expect(st.Requests[opCheckout]).To(Equal(map[int]int{201: 2 * workers * perWorker}))
	g.Expect(h.srv.Orders()).To(HaveLen(workers * perWorker))
}

// buyCarts runs on a worker goroutine, so it returns errors instead of asserting.
func buyCarts(h *harness, worker, n int) error {
	customer := fmt.Sprintf("00000000-0000-0000-0000-%012d", worker+1)
	for i := range n {
		body := pc.Cart{LineItems: []pc.CartLineItem{line(0, e5, 1, "monthly", "P1M")}}
		resp, b, err := h.send(http.MethodPost, cartsPath(customer), body, "MS-RequestId", fmt.Sprintf("w%d-%d", worker, i))
		if err := answerErr("create", resp, b, err, http.StatusCreated); err != nil {
			return err
		}
		var ct pc.Cart
		if err := jsonUnmarshal(b, &ct); err != nil {
			return err
		}
		ct.LineItems[0].Quantity = 2
		resp, b, err = h.send(http.MethodPut, cartPath(customer, ct.ID), ct)
		if err := answerErr("put", resp, b, err, http.StatusCreated); err != nil {
			return err
		}
		for range 2 {
			resp, b, err = h.send(http.MethodPost, cartPath(customer, ct.ID)+"/checkout", nil)
			if err := answerErr("checkout", resp, b, err, http.StatusCreated); err != nil {
				return err
			}
		}
		resp, b, err = h.send(http.MethodGet, "/v1/customers/"+customer+"/orders", nil)
		if err := answerErr("list orders", resp, b, err, http.StatusOK); err != nil {
			return err
		}
	}
	return nil
}

// answerErr is nil when a send succeeded with the wanted status; otherwise it names the step
// and wraps the transport error or reports the status and body.
func answerErr(step string, resp *reply, body []byte, err error, want int) error {
	if err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s: status %d: %s", step, resp.StatusCode, body)
	}
	return nil
}
