package controller

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

const (
	testTenant       = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClientID     = "6f1b3a52-5c1e-4d1e-9c64-0d3b1f0e7a11"
	testClientSecret = "s3cr3t-value-that-must-never-leak"
)

// operator is one test's world: a namespace on the shared API server, pcsim in-process, and a
// manager (watching only that namespace) talking to pcsim through the real HTTP client.
type operator struct {
	t  *testing.T
	ns string
	// receiptNS is the manager's own namespace, where it keeps receipts (and the tenant in ns
	// has no rights).
	receiptNS string
	sim       *pcsim.Server
	simURL    string
	logs      *syncBuffer
	writes    writeCounter
	// reconciles: which resourceVersion of each cart a finished reconcile started from.
	reconciles reconcileLog
	stop       context.CancelFunc
	kill       context.CancelFunc
	done       chan struct{}
	opts       operatorOptions
}

type operatorOptions struct {
	sim        pcsim.Options
	reconciler Options
	noSecret   bool
	secretData map[string]string
	// middleware wraps pcsim, to hold or drop requests at chosen moments.
	middleware func(http.Handler) http.Handler
	// clock is the reconciler's clock (default: real time).
	clock clock.PassiveClock
	// receiptCacheBlind: the manager's cache never shows a receipt, as a cache lagging
	// forever would.
	receiptCacheBlind bool
	// admission replaces the check of the admission policies (default: the real check,
	// which must find them in force).
	admission AdmissionCheck
	// as: the manager's API server identity (default: the test's admin), e.g. its service
	// account impersonated with the install's RBAC; receiptNS then names its namespace.
	as        *rest.Config
	receiptNS string
}

// startOperator starts pcsim and a manager for a fresh namespace; both stop with the test.
func startOperator(t *testing.T, opts operatorOptions) *operator {
	t.Helper()
	g := NewWithT(t)
	if opts.sim.ClientID == "" {
		opts.sim.ClientID, opts.sim.ClientSecret = testClientID, testClientSecret
	}
	if opts.sim.OrderCompleteAfter == 0 {
		opts.sim.OrderCompleteAfter = 300 * time.Millisecond
	}
	sim, err := pcsim.New(opts.sim)
	g.Expect(err).NotTo(HaveOccurred())
	var handler http.Handler = sim
	if opts.middleware != nil {
		handler = opts.middleware(sim)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	o := &operator{t: t, ns: newNamespace(t), receiptNS: opts.receiptNS, sim: sim, simURL: srv.URL, logs: &syncBuffer{}, opts: opts}
	if o.receiptNS == "" {
		o.receiptNS = newNamespace(t)
	}
	if !opts.noSecret {
		data := opts.secretData
		if data == nil {
			data = map[string]string{pcv1alpha1.SecretKeyTenantID: testTenant, pcv1alpha1.SecretKeyClientID: testClientID, pcv1alpha1.SecretKeyClientSecret: testClientSecret}
		}
		g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: "partner-center"}, StringData: data,
		})).To(Succeed())
	}
	o.start()
	t.Cleanup(o.shutdown)
	return o
}

// start runs a manager; shutdown and start again simulate an operator restart.
func (o *operator) start() {
	t := o.t
	g := NewWithT(t)
	ropts := o.opts.reconciler
	if ropts.ReceiptNamespace == "" {
		ropts.ReceiptNamespace = o.receiptNS
	}
	cfg := env.Config
	if o.opts.as != nil {
		cfg = o.opts.as
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  env.Scheme,
		Logger:  zap.New(zap.WriteTo(o.logs), zap.UseDevMode(true)),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   CacheOptions(cache.Options{DefaultNamespaces: map[string]cache.Config{o.ns: {}}}, ropts),
		Controller: config.Controller{
			SkipNameValidation: ptr.To(true),
		},
		NewClient: func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			funcs := o.writes.funcs()
			if o.opts.receiptCacheBlind {
				funcs.Get, funcs.List = hideCachedReceipts()
			}
			return interceptor.NewClient(c, funcs), nil
		},
	})
	g.Expect(err).NotTo(HaveOccurred())
	setDefault(&ropts.OrderPollInterval, 200*time.Millisecond)
	setDefault(&ropts.CredentialsRetryInterval, 2*time.Second)
	// A restarted manager waits this long before repeating a call its predecessor made.
	setDefault(&ropts.CheckoutTimeout, 2*time.Second)
	lifetime, kill := context.WithCancel(context.Background())
	r := &PartnerCartReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  newTestRecorder(o.t, mgr),
		PartnerCenter: partnercenter.NewFactory(partnercenter.Config{
			Endpoint: o.simURL, AuthorityHost: o.simURL,
			RetryBaseDelay: 10 * time.Millisecond, MaxRetryWait: 2 * time.Second,
			HTTPClient: &http.Client{Transport: &http.Transport{}},
		}),
		Options:  ropts,
		Clock:    o.opts.clock,
		Lifetime: lifetime,
	}
	r.Admission = o.opts.admission
	if r.Admission == nil {
		r.Admission = admissionInForce(o.t)
	}
	g.Expect(AddIndexes(context.Background(), mgr.GetFieldIndexer())).To(Succeed())
	g.Expect(r.setupWithManager(mgr, 4, &recordingReconciler{inner: r, cache: mgr.GetClient(), log: &o.reconciles})).To(Succeed())
	o.reconciles.reset()
	ctx, cancel := context.WithCancel(context.Background())
	o.stop, o.kill, o.done = cancel, kill, make(chan struct{})
	go func() {
		defer close(o.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
}

// shutdown kills the manager as SIGKILL would: calls in flight are abandoned.
func (o *operator) shutdown() {
	if o.kill != nil {
		o.kill()
	}
	o.stopGracefully()
}

// stopGracefully stops the manager as SIGTERM does: a checkout call in flight completes and is
// recorded before the manager returns.
func (o *operator) stopGracefully() {
	if o.stop != nil {
		o.stop()
		<-o.done
		o.stop, o.kill = nil, nil
	}
	if o.t.Failed() {
		lines := strings.Split(o.logs.String(), "\n")
		o.t.Logf("last manager log lines:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	// No secret or token may ever reach the logs.
	if strings.Contains(o.logs.String(), testClientSecret) {
		o.t.Errorf("the client secret appears in the manager's logs")
	}
}

// receipt reads a receipt, by name, from the receipt namespace.
func (o *operator) receipt(name string) *corev1.ConfigMap {
	o.t.Helper()
	cm := &corev1.ConfigMap{}
	NewWithT(o.t).Expect(env.Client.Get(o.t.Context(), client.ObjectKey{Namespace: o.receiptNS, Name: name}, cm)).To(Succeed())
	return cm
}

// create creates a cart in the operator's namespace.
func (o *operator) create(name string, opts ...cartOption) *pcv1alpha1.PartnerCart {
	o.t.Helper()
	c := newCart(o.ns, name, opts...)
	NewWithT(o.t).Expect(env.Client.Create(o.t.Context(), c)).To(Succeed())
	return c
}

// get reads a cart straight from the API server.
func (o *operator) get(name string) *pcv1alpha1.PartnerCart {
	o.t.Helper()
	c := &pcv1alpha1.PartnerCart{}
	NewWithT(o.t).Expect(env.Client.Get(o.t.Context(), client.ObjectKey{Namespace: o.ns, Name: name}, c)).To(Succeed())
	return c
}

// update changes a cart's spec, retrying on conflicts with the operator's writes.
func (o *operator) update(name string, change func(*pcv1alpha1.PartnerCart)) {
	o.t.Helper()
	NewWithT(o.t).Eventually(func() error {
		c := o.get(name)
		change(c)
		return env.Client.Update(o.t.Context(), c)
	}).Should(Succeed())
}

// touch changes a cart as update does and waits until a reconcile that started from the
// change (or a later version) has finished, so that a "nothing happens" assertion after it is
// about a reconcile that ran. It suits changes that leave the generation as it was
// (annotations, labels), which haveObservedItsGeneration cannot see.
func (o *operator) touch(name string, change func(*pcv1alpha1.PartnerCart)) {
	o.t.Helper()
	var changed uint64
	NewWithT(o.t).Eventually(func() error {
		c := o.get(name)
		change(c)
		if err := env.Client.Update(o.t.Context(), c); err != nil {
			return err
		}
		changed = resourceVersion(c)
		return nil
	}).Should(Succeed())
	NewWithT(o.t).Eventually(func() uint64 { return o.reconciles.newest(name) }).WithTimeout(30*time.Second).
		Should(BeNumerically(">=", changed), "a reconcile of %s that read the change finished", name)
}

// reconciledSinceStart waits until a reconcile of each named cart has finished in the
// manager started last, so that what a restart leaves alone is asserted after it looked.
func (o *operator) reconciledSinceStart(names ...string) {
	o.t.Helper()
	for _, name := range names {
		NewWithT(o.t).Eventually(func() uint64 { return o.reconciles.newest(name) }).WithTimeout(30*time.Second).
			ShouldNot(BeZero(), "the restarted manager reconciled %s", name)
	}
}

// reconcileLog keeps, per cart name, the newest resourceVersion a finished reconcile started from.
type reconcileLog struct {
	mu   sync.Mutex
	from map[string]uint64
}

func (l *reconcileLog) finished(name string, rv uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.from == nil {
		l.from = map[string]uint64{}
	}
	l.from[name] = max(l.from[name], rv)
}

// reset forgets every reconcile, when a manager starts.
func (l *reconcileLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.from = nil
}

func (l *reconcileLog) newest(name string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.from[name]
}

// recordingReconciler runs the reconciler and records, once it returns, the version of the
// cart the manager's cache held before it started. The reconciler reads the same cache after
// that, so it saw that version or a newer one. (resourceVersions are opaque to clients; the
// test API server's are etcd revisions, which grow.)
type recordingReconciler struct {
	inner reconcile.Reconciler
	cache client.Reader
	log   *reconcileLog
}

func (r *recordingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rv uint64
	cart := &pcv1alpha1.PartnerCart{}
	if err := r.cache.Get(ctx, req.NamespacedName, cart); err == nil {
		rv = resourceVersion(cart)
	}
	res, err := r.inner.Reconcile(ctx, req)
	r.log.finished(req.Name, rv)
	return res, err
}

func resourceVersion(obj client.Object) uint64 {
	rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	return rv
}

// deleteAndWait deletes a cart and waits until the operator has let it go.
func (o *operator) deleteAndWait(name string) {
	o.t.Helper()
	NewWithT(o.t).Expect(env.Client.Delete(o.t.Context(), o.get(name))).To(Succeed())
	o.waitGone(name)
}

// waitGone waits until the cart no longer exists: its deletion went through the finalizer.
func (o *operator) waitGone(name string) {
	o.t.Helper()
	NewWithT(o.t).Eventually(func() bool {
		return apierrors.IsNotFound(env.Client.Get(o.t.Context(), client.ObjectKey{Namespace: o.ns, Name: name}, &pcv1alpha1.PartnerCart{}))
	}).WithTimeout(30*time.Second).Should(BeTrue(), "%s is gone", name)
}

// eventually waits for the cart to satisfy a matcher.
func (o *operator) eventually(name string, timeout time.Duration) AsyncAssertion {
	return NewWithT(o.t).Eventually(func() *pcv1alpha1.PartnerCart { return o.get(name) }).
		WithTimeout(timeout).WithPolling(50 * time.Millisecond)
}

// requests counts pcsim's answers for an operation.
func (o *operator) requests(op string) int {
	n := 0
	for _, c := range o.sim.Stats().Requests[op] {
		n += c
	}
	return n
}

// events lists the reasons of the Events recorded about a cart.
func (o *operator) events(name string) []string {
	o.t.Helper()
	list := &eventsv1.EventList{}
	NewWithT(o.t).Expect(env.Client.List(o.t.Context(), list, client.InNamespace(o.ns))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// writeCounter counts the manager's writes to the API server, by kind of write.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (w *writeCounter) add(kind string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]int{}
	}
	w.counts[kind]++
}

// eventWrites is the kind of write the event recorder makes (through the same client); the
// tests count Events by listing them, not as writes.
var eventWrites = fmt.Sprintf("create %T", &eventsv1.Event{})

// snapshot returns the writes so far and their total, Events left out.
func (w *writeCounter) snapshot() (map[string]int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out, total := map[string]int{}, 0
	for k, v := range w.counts {
		if k == eventWrites {
			continue
		}
		out[k] = v
		total += v
	}
	return out, total
}

func (w *writeCounter) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.add("create " + fmt.Sprintf("%T", obj))
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.add("update")
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			w.add("patch")
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.add("delete")
			return c.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			w.add("patch " + sub)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			w.add("update " + sub)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}
}

// hideCachedReceipts returns Get and List interceptors under which the manager's client
// (the cache) shows no receipt metadata.
func hideCachedReceipts() (func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error,
	func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error) {
	get := func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok && m.Kind == "ConfigMap" {
			return apierrors.NewNotFound(corev1.Resource("configmaps"), key.Name)
		}
		return c.Get(ctx, key, obj, opts...)
	}
	list := func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if m, ok := list.(*metav1.PartialObjectMetadataList); ok && m.Kind == "ConfigMapList" {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			m.Items = nil
			return nil
		}
		return c.List(ctx, list, opts...)
	}
	return get, list
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Matchers over a PartnerCart.

// haveObservedItsGeneration: a reconcile has concluded on the object's current generation, so
// a "nothing happens" assertion that follows is about a reconcile that ran, not one still queued.
func haveObservedItsGeneration() OmegaMatcher {
	return WithTransform(func(c *pcv1alpha1.PartnerCart) bool {
		return c.Generation > 0 && c.Status.ObservedGeneration == c.Generation
	}, BeTrue())
}

func havePhase(p pcv1alpha1.Phase) OmegaMatcher {
	return WithTransform(func(c *pcv1alpha1.PartnerCart) pcv1alpha1.Phase { return c.Status.Phase }, Equal(p))
}

func haveCondition(condType string, status metav1.ConditionStatus, reason string) OmegaMatcher {
	return WithTransform(func(c *pcv1alpha1.PartnerCart) string {
		for _, cond := range c.Status.Conditions {
			if cond.Type == condType {
				return string(cond.Status) + "/" + cond.Reason
			}
		}
		return ""
	}, Equal(string(status)+"/"+reason))
}

// newTestRecorder is the manager binary's event recorder, added to mgr.
func newTestRecorder(t testing.TB, mgr ctrl.Manager) events.EventRecorder {
	rec, err := NewEventRecorder(mgr, "partnercart-controller")
	if err != nil {
		t.Fatalf("event recorder: %v", err)
	}
	return rec
}

// admissionInForce checks, as the manager does, that the API server enforces config/policy
// (testenv installs it), and fails the test if it does not.
func admissionInForce(t *testing.T) *AdmissionPolicies {
	t.Helper()
	p := &AdmissionPolicies{Client: env.Client, Namespace: metav1.NamespaceDefault}
	if problem := p.checkAndRecord(t.Context()); problem != "" {
		t.Fatalf("admission policies: %s", problem)
	}
	return p
}
