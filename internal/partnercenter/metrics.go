package partnercenter

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Observer is told about every HTTP attempt the client makes, retries and token requests
// included. statusCode is 0 when no complete HTTP answer arrived (a transport error).
// Implementations must be safe for concurrent use and must not block.
type Observer interface {
	ObserveRequest(operation string, statusCode int, duration time.Duration)
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, int, time.Duration) {}

// PrometheusObserver exports the attempts as partnercenter_requests_total{operation,code}
// and partnercenter_request_duration_seconds{operation}.
type PrometheusObserver struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var _ Observer = (*PrometheusObserver)(nil)

// NewPrometheusObserver registers the Partner Center metrics with reg (the default
// registerer if nil). Registering twice with one registry reuses the first collectors;
// any other registration failure panics, as prometheus.MustRegister does.
func NewPrometheusObserver(reg prometheus.Registerer) *PrometheusObserver {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "partnercenter_requests_total",
		Help: "HTTP attempts to Partner Center and its token endpoint, by operation and HTTP status (0: no answer).",
	}, []string{"operation", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "partnercenter_request_duration_seconds",
		Help: "Duration of HTTP attempts to Partner Center and its token endpoint.",
		// 50ms to about 100s: checkout can take minutes.
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
	}, []string{"operation"})
	return &PrometheusObserver{
		requests: registerOrReuse(reg, requests),
		duration: registerOrReuse(reg, duration),
	}
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

// ObserveRequest records one attempt.
func (o *PrometheusObserver) ObserveRequest(operation string, statusCode int, duration time.Duration) {
	o.requests.WithLabelValues(operation, strconv.Itoa(statusCode)).Inc()
	o.duration.WithLabelValues(operation).Observe(duration.Seconds())
}
