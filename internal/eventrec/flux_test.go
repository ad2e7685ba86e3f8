package eventrec

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1beta1"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// notificationController is an events endpoint that decodes what it is sent as Flux's own
// notification-controller does (eventv1.Event), answering with status.
type notificationController struct {
	mu       sync.Mutex
	received []eventv1.Event
	status   []int // answers in turn; 202 once they run out
}

func (n *notificationController) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	status := http.StatusAccepted
	if len(n.status) > 0 {
		status, n.status = n.status[0], n.status[1:]
	}
	if status == http.StatusAccepted {
		var ev eventv1.Event
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&ev) != nil {
			status = http.StatusBadRequest
		} else {
			n.received = append(n.received, ev)
		}
	}
	w.WriteHeader(status)
}

func (n *notificationController) events() []eventv1.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]eventv1.Event(nil), n.received...)
}

func appliedBy(labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "e5", UID: "u-1", Labels: labels}}
}

func startForwarder(t *testing.T, addr string) (*Forwarder, prometheus.Counter) {
	t.Helper()
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	f, err := NewForwarder(addr, "partnercart-controller", clientgoscheme.Scheme, Options{Dropped: dropped})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f, dropped
}

// TestFluxNotifications: an Event about an object a Flux Kustomization (or HelmRelease)
// applied reaches notification-controller as an event of that Kustomization, which an Alert
// can select, naming the object in the message and in metadata prefixed with the
// Kustomization's group (the only metadata notification-controller keeps); a Warning is an
// error. An Event about an object Flux did not apply is not sent.
func TestFluxNotifications(t *testing.T) {
	g := NewWithT(t)
	nc := &notificationController{}
	srv := httptest.NewServer(nc)
	t.Cleanup(srv.Close)
	f, dropped := startForwarder(t, srv.URL+"/")

	f.Eventf(appliedBy(nil), nil, corev1.EventTypeNormal, "WaitingForApproval", "Reconcile", "not applied by Flux")
	f.Eventf(appliedBy(map[string]string{"kustomize.toolkit.fluxcd.io/name": "licences", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
		nil, corev1.EventTypeNormal, "WaitingForApproval", "Reconcile", "Waiting for approval of %s", "sha256:ab")
	f.Eventf(appliedBy(map[string]string{"helm.toolkit.fluxcd.io/name": "carts", "helm.toolkit.fluxcd.io/namespace": "tenant"}),
		nil, corev1.EventTypeWarning, "CheckoutOutcomeUnknown", "Checkout", "look in Partner Center")

	g.Eventually(nc.events).Should(HaveLen(2))
	byReason := map[string]eventv1.Event{}
	for _, ev := range nc.events() {
		byReason[ev.Reason] = ev
	}
	waiting := byReason["WaitingForApproval"]
	g.Expect(waiting.InvolvedObject).To(Equal(corev1.ObjectReference{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Name: "licences", Namespace: "flux-system"}))
	g.Expect(waiting.Severity).To(Equal(eventv1.EventSeverityInfo))
	g.Expect(waiting.Message).To(Equal("ConfigMap tenant/e5: Waiting for approval of sha256:ab"))
	g.Expect(waiting.Metadata).To(Equal(map[string]string{
		"kustomize.toolkit.fluxcd.io/object": "tenant/e5", "kustomize.toolkit.fluxcd.io/kind": "ConfigMap", "kustomize.toolkit.fluxcd.io/uid": "u-1"}))
	g.Expect(waiting.ReportingController).To(Equal("partnercart-controller"))
	unknown := byReason["CheckoutOutcomeUnknown"]
	g.Expect(unknown.InvolvedObject.Kind).To(Equal("HelmRelease"))
	g.Expect(unknown.Severity).To(Equal(eventv1.EventSeverityError))
	g.Expect(testutil.ToFloat64(dropped)).To(BeZero())
}

// TestFluxNotificationsRetryThenDrop: a notification-controller that is restarting (503) is
// tried again; one that refuses the event (400) is not, and the drop is counted.
func TestFluxNotificationsRetryThenDrop(t *testing.T) {
	g := NewWithT(t)
	nc := &notificationController{status: []int{http.StatusServiceUnavailable, http.StatusBadRequest}}
	srv := httptest.NewServer(nc)
	t.Cleanup(srv.Close)
	f, dropped := startForwarder(t, srv.URL)
	flux := map[string]string{"kustomize.toolkit.fluxcd.io/name": "licences", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}

	f.Eventf(appliedBy(flux), nil, corev1.EventTypeNormal, "OrdersCreated", "Checkout", "bought") // 503, then 400: dropped
	g.Eventually(func() float64 { return testutil.ToFloat64(dropped) }).WithTimeout(10*time.Second).Should(Equal(1.0), "after one retry")
	f.Eventf(appliedBy(flux), nil, corev1.EventTypeNormal, "OrdersCreated", "Checkout", "bought again")
	g.Eventually(nc.events).Should(HaveLen(1))
	g.Expect(nc.events()[0].Message).To(HaveSuffix("bought again"))
}

func TestFluxNotificationsNeedAnHTTPAddress(t *testing.T) {
	for _, addr := range []string{"", "notification-controller:80", "ftp://x/"} {
		_, err := NewForwarder(addr, "c", runtime.NewScheme(), Options{})
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("--events-addr")), addr)
	}
}
