package eventrec

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func regarding(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}
}

func newRecorder(funcs interceptor.Funcs, opts Options) (*Recorder, client.Client, prometheus.Counter) {
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithInterceptorFuncs(funcs).Build()
	opts.Dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "test_events_dropped_total"})
	return New(c, clientgoscheme.Scheme, "partnercart-controller", opts), c, opts.Dropped
}

// run starts r and returns a function that stops it and waits until it has drained.
func run(t *testing.T, r *Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Start(ctx)
	}()
	return func() { cancel(); <-done }
}

func listEvents(t *testing.T, c client.Client) []eventsv1.Event {
	list := &eventsv1.EventList{}
	NewWithT(t).Expect(c.List(t.Context(), list, client.InNamespace("ns"))).To(Succeed())
	return list.Items
}

// TestEventsAreCreatedAsClientGoWould: an Event carries what kubectl and the tests read
// (regarding, reason, action, note, type, reporting controller and instance).
func TestEventsAreCreatedAsClientGoWould(t *testing.T) {
	g := NewWithT(t)
	r, c, dropped := newRecorder(interceptor.Funcs{}, Options{})
	stop := run(t, r)
	r.Eventf(regarding("cart-a"), nil, corev1.EventTypeNormal, "OrdersCreated", "OrdersCreated", "Checked out cart %s", "c-1")
	r.Eventf(regarding("cart-b"), nil, corev1.EventTypeWarning, "LineItemErrors", "LineItemErrors", "%s", strings.Repeat("x", 2000))
	g.Eventually(func() int { return len(listEvents(t, c)) }).Should(Equal(2))
	stop()

	byReason := map[string]eventsv1.Event{}
	for _, ev := range listEvents(t, c) {
		byReason[ev.Reason] = ev
	}
	created := byReason["OrdersCreated"]
	g.Expect(created.Regarding.Kind).To(Equal("ConfigMap"))
	g.Expect(created.Regarding.Name).To(Equal("cart-a"))
	g.Expect(created.Note).To(Equal("Checked out cart c-1"))
	g.Expect(created.Type).To(Equal(corev1.EventTypeNormal))
	g.Expect(created.Action).To(Equal("OrdersCreated"))
	g.Expect(created.ReportingController).To(Equal("partnercart-controller"))
	g.Expect(created.ReportingInstance).To(HavePrefix("partnercart-controller-"))
	g.Expect(created.Name).To(HavePrefix("cart-a."))
	g.Expect(created.EventTime.IsZero()).To(BeFalse())
	g.Expect(byReason["LineItemErrors"].Note).To(HaveLen(maxNoteBytes), "the API server refuses longer notes")
	g.Expect(testutil.ToFloat64(dropped)).To(BeZero())
}

// TestFullQueueDropsAndCounts: with the API server far behind, Eventf does not block and the
// queue does not grow past its bound; what does not fit is counted as dropped.
func TestFullQueueDropsAndCounts(t *testing.T) {
	g := NewWithT(t)
	r, c, dropped := newRecorder(interceptor.Funcs{}, Options{QueueSize: 3})
	for i := range 5 { // not started: nothing leaves the queue
		r.Eventf(regarding("cart"), nil, corev1.EventTypeNormal, "OrdersCreated", "OrdersCreated", "event %d", i)
	}
	g.Expect(testutil.ToFloat64(dropped)).To(Equal(2.0))
	g.Expect(r.queue).To(HaveLen(3))

	run(t, r)() // a stopping recorder still sends what is queued
	g.Expect(listEvents(t, c)).To(HaveLen(3))
}

// TestTransientFailuresAreRetriedAndRefusalsAreNot: a timeout is tried again; an invalid
// Event or a terminating namespace is dropped at once, and counted.
func TestTransientFailuresAreRetriedAndRefusalsAreNot(t *testing.T) {
	g := NewWithT(t)
	var calls atomic.Int32
	r, c, dropped := newRecorder(interceptor.Funcs{Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		n := calls.Add(1)
		switch obj.(*eventsv1.Event).Reason {
		case "Flaky":
			if n == 1 {
				return apierrors.NewServerTimeout(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "create", 1)
			}
		case "Forbidden":
			return apierrors.NewForbidden(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "x",
				errors.New("namespace ns is being terminated"))
		}
		return cl.Create(ctx, obj, opts...)
	}}, Options{Senders: 1})
	r.Eventf(regarding("cart"), nil, corev1.EventTypeNormal, "Flaky", "Flaky", "first")
	r.Eventf(regarding("cart"), nil, corev1.EventTypeNormal, "Forbidden", "Forbidden", "second")
	run(t, r)()
	events := listEvents(t, c)
	g.Expect(events).To(HaveLen(1))
	g.Expect(events[0].Reason).To(Equal("Flaky"))
	g.Expect(calls.Load()).To(Equal(int32(3)), "Flaky twice, Forbidden once")
	g.Expect(testutil.ToFloat64(dropped)).To(Equal(1.0))
}

// TestBadEventIsNotQueued: an unknown type or an object without a kind is refused at once.
func TestBadEventIsNotQueued(t *testing.T) {
	g := NewWithT(t)
	r, _, dropped := newRecorder(interceptor.Funcs{}, Options{})
	r.Eventf(regarding("cart"), nil, "Info", "Reason", "Action", "note")
	r.Eventf(&struct{ corev1.ConfigMap }{}, nil, corev1.EventTypeNormal, "Reason", "Action", "note")
	g.Expect(r.queue).To(BeEmpty())
	g.Expect(testutil.ToFloat64(dropped)).To(Equal(2.0))
}
