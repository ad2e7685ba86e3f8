package partnercenter

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserverSeesEveryAttempt(t *testing.T) {
	g := NewWithT(t)
	s := newPCServer(t, script(status(500, ``), dropConnection, status(200, `{}`)))
	observer := &recordingObserver{}
	f, _ := newTestFactory(s, func(c *Config) { c.Observer = observer })

	_, err := mustClient(t, f, testCreds).GetCart(ctx, "cust", "cart-1")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(observer.Observed()).To(Equal([]observation{
		{OpAcquireToken, http.StatusOK},
		{OpGetCart, http.StatusInternalServerError},
		{OpGetCart, 0},
		{OpGetCart, http.StatusOK},
	}))
}

func TestPrometheusObserver(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	o := NewPrometheusObserver(reg)

	o.ObserveRequest(OpCheckout, 201, 3*time.Second)
	o.ObserveRequest(OpCheckout, 0, time.Second)
	NewPrometheusObserver(reg).ObserveRequest(OpCheckout, 201, time.Second) // registering twice reuses

	g.Expect(testutil.ToFloat64(o.requests.WithLabelValues(OpCheckout, "201"))).To(Equal(2.0))
	g.Expect(testutil.ToFloat64(o.requests.WithLabelValues(OpCheckout, "0"))).To(Equal(1.0))
	count, err := testutil.GatherAndCount(reg, "partnercenter_request_duration_seconds")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(count).To(Equal(1))
	g.Expect(testutil.CollectAndCount(o.requests)).To(Equal(2))
}
