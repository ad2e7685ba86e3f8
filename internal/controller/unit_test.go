package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	pcfake "github.com/partnercart/partnercart-operator/internal/partnercenter/fake"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

func TestApprovalDecision(t *testing.T) {
	synced := func(opts ...cartOption) *pcv1alpha1.PartnerCart {
		c := newCart("ns", "c", opts...)
		c.Status.SpecHash = SpecHash(&c.Spec)
		c.Status.Cart = &pcv1alpha1.CartStatus{ID: "cart", QuotedTotal: "1425.00", CurrencyCode: "USD"}
		return c
	}
	pinned := func(hash string) cartOption {
		return func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.SpecHash = hash }
	}
	current := SpecHash(&newCart("ns", "c").Spec)
	tests := []struct {
		name   string
		cart   *pcv1alpha1.PartnerCart
		reason string
	}{
		{"not approved", synced(), pcv1alpha1.WaitingForApprovalReason},
		{"approved", synced(withApproved()), pcv1alpha1.ApprovedReason},
		{"approved and pinned to the current content", synced(withApproved(), pinned(current)), pcv1alpha1.ApprovedReason},
		{"pinned to other content", synced(withApproved(), pinned("sha256:"+strings.Repeat("0", 64))), pcv1alpha1.ApprovalHashMismatchReason},
		{"total under the guard", synced(withApproved(), withMaxTotal("2000")), pcv1alpha1.ApprovedReason},
		{"total equal to the guard", synced(withApproved(), withMaxTotal("1425")), pcv1alpha1.ApprovedReason},
		{"total over the guard", synced(withApproved(), withMaxTotal("1424.99")), pcv1alpha1.PriceLimitExceededReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, msg := approvalDecision(tt.cart)
			g := NewWithT(t)
			g.Expect(reason).To(Equal(tt.reason))
			g.Expect(msg).NotTo(BeEmpty())
		})
	}
	noQuote := synced(withApproved(), withMaxTotal("10"))
	noQuote.Status.Cart.QuotedTotal = ""
	reason, _ := approvalDecision(noQuote)
	NewWithT(t).Expect(reason).To(Equal(pcv1alpha1.QuoteUnavailableReason))
}

func TestDecimals(t *testing.T) {
	g := NewWithT(t)
	for in, want := range map[string][]string{
		"1425.00":   {"1425"},
		"364.80":    {"30.4", "334.4"},
		"0.30":      {"0.1", "0.2"},
		"70.08":     {"70.08"},
		"12.345":    {"12.345"},
		"100000.01": {"99999.99", "0.02"},
	} {
		got, err := sumDecimals(want)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(in))
	}
	_, err := sumDecimals([]string{"1", "abc"})
	g.Expect(err).To(HaveOccurred())
	cmp, err := compareDecimals("1425.00", "1425")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cmp).To(BeZero())
}

func TestRequestIDsAreDeterministic(t *testing.T) {
	g := NewWithT(t)
	uid := types.UID("5b0f8b1e-9d3c-4b5e-8f0e-1d2c3b4a5968")
	g.Expect(checkoutRequestID(uid, "cart-1", 1)).To(Equal(checkoutRequestID(uid, "cart-1", 1)))
	g.Expect(checkoutRequestID(uid, "cart-1", 1)).NotTo(Equal(checkoutRequestID(uid, "cart-2", 1)))
	g.Expect(checkoutRequestID(uid, "cart-1", 1)).NotTo(Equal(checkoutRequestID("other", "cart-1", 1)))
	g.Expect(createRequestID(uid, "sha256:a", "")).NotTo(Equal(createRequestID(uid, "sha256:a", "cart-1")),
		"re-creating an expired cart is a new request, not a replay of the first creation")
}

func TestOrderPolling(t *testing.T) {
	r := &PartnerCartReconciler{}
	r.Options.defaults()
	checkedOut := time.Now()
	withSub := []pcv1alpha1.OrderLineItemStatus{{SubscriptionID: "s"}}
	noSub := []pcv1alpha1.OrderLineItemStatus{{}}
	tests := []struct {
		name  string
		order pcv1alpha1.OrderStatus
		after time.Duration
		poll  bool
	}{
		{"pending", pcv1alpha1.OrderStatus{Status: "pending"}, 0, true},
		{"pending review waits for a person, still watched", pcv1alpha1.OrderStatus{Status: "pending review"}, 0, true},
		{"unknown status is kept and watched", pcv1alpha1.OrderStatus{Status: "something new"}, 0, true},
		{"completed with subscriptions", pcv1alpha1.OrderStatus{Status: "completed", LineItems: withSub}, 0, false},
		{"completed, subscription IDs not there yet", pcv1alpha1.OrderStatus{Status: "completed", LineItems: noSub}, 0, true},
		{"completed, gave up waiting for subscription IDs", pcv1alpha1.OrderStatus{Status: "completed", LineItems: noSub}, 2 * time.Hour, false},
		{"partial success with underscores", pcv1alpha1.OrderStatus{Status: "partial_success"}, 0, false},
		{"error", pcv1alpha1.OrderStatus{Status: "error"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(r.orderNeedsPolling(tt.order, checkedOut, checkedOut.Add(tt.after))).To(Equal(tt.poll))
		})
	}
	g := NewWithT(t)
	g.Expect(r.orderPollInterval(0)).To(BeNumerically("~", r.Options.OrderPollInterval, r.Options.OrderPollInterval/4))
	g.Expect(r.orderPollInterval(time.Hour)).To(BeNumerically("~", 10*time.Minute, 3*time.Minute), "grows with age up to the maximum")
}

// TestNoCheckoutWithoutPersistedIntent: if the intent cannot be written (here the API server
// answers Conflict, as for a stale object), the checkout is never called.
func TestNoCheckoutWithoutPersistedIntent(t *testing.T) {
	g := NewWithT(t)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f20")
	r, _, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			return apierrors.NewConflict(pcv1alpha1.GroupVersion.WithResource("partnercarts").GroupResource(), obj.GetName(), errors.New("the object has been modified"))
		}}, Options{})

	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "the conflict is returned: %v", err)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
}

// storedCart reads cart back from the fake API server k8s, as the reconciler left it.
func storedCart(t *testing.T, k8s client.Client, cart *pcv1alpha1.PartnerCart) *pcv1alpha1.PartnerCart {
	t.Helper()
	got := &pcv1alpha1.PartnerCart{}
	NewWithT(t).Expect(k8s.Get(t.Context(), client.ObjectKeyFromObject(cart), got)).To(Succeed())
	return got
}

func reconcileRequest(c *pcv1alpha1.PartnerCart) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}}
}

func TestPhaseCollector(t *testing.T) {
	g := NewWithT(t)
	cart := func(name string, phase pcv1alpha1.Phase) *pcv1alpha1.PartnerCart {
		c := newCart("ns", name)
		c.Status.Phase = phase
		return c
	}
	k8s := fake.NewClientBuilder().WithScheme(testenv.NewScheme()).WithStatusSubresource(&pcv1alpha1.PartnerCart{}).
		WithObjects(cart("a", pcv1alpha1.PhaseAwaitingApproval), cart("b", pcv1alpha1.PhaseAwaitingApproval),
			cart("c", pcv1alpha1.PhaseCompleted), cart("d", "")).Build()
	expected := `
# HELP partnercart_carts PartnerCarts by phase.
# TYPE partnercart_carts gauge
partnercart_carts{phase="AwaitingApproval"} 2
partnercart_carts{phase="Cancelled"} 0
partnercart_carts{phase="Cancelling"} 0
partnercart_carts{phase="CheckingOut"} 0
partnercart_carts{phase="Completed"} 1
partnercart_carts{phase="Failed"} 0
partnercart_carts{phase="PartiallyCancelled"} 0
partnercart_carts{phase="Pending"} 1
partnercart_carts{phase="Provisioning"} 0
`
	g.Expect(testutil.CollectAndCompare(&PhaseCollector{Reader: k8s}, strings.NewReader(expected))).To(Succeed())
}

// TestAnotherProcessOwnsTheCall: a Pending intent whose last call another manager process
// made, with its deadline still ahead, is not called again (two managers without leader
// election must never have two calls of one checkout in flight); once the deadline passed,
// this process takes the call over, persisting itself as owner first.
func TestAnotherProcessOwnsTheCall(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f21")
	deadline := metav1.NewTime(now.Add(time.Minute))
	cart.Status.Checkout = pendingIntent(cart, now)
	cart.Status.Checkout.Owner, cart.Status.Checkout.Deadline = "manager-a_1234", &deadline
	clk := clocktesting.NewFakePassiveClock(now)
	r, k8s, pc := unitReconciler(cart, clk, interceptor.Funcs{}, Options{Identity: "manager-b_5678"})
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		return &partnercenter.CartCheckoutResult{Orders: []partnercenter.Order{{ID: "o-1", Status: "pending", TotalPrice: "10"}}}, nil
	}

	res, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeNumerically("~", time.Minute, 2*time.Second), "it comes back after the owner's deadline")
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())

	clk.SetTime(now.Add(time.Minute + time.Second))
	_, err = r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(1))
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
	g.Expect(got.Status.Checkout.Attempts).To(Equal(int32(2)))
	g.Expect(got.Status.Checkout.RequestID).To(Equal(cart.Status.Checkout.RequestID), "the same request ID")
}

// TestThrottledCallsDoNotCountAsProcessed: a checkout answered 429 (not processed) and then
// definitely refused is Refused, nothing bought; had the 429 counted as a call that might have
// bought, the refusal of the "repeat" would have made it Unknown and stopped for a person.
func TestThrottledCallsDoNotCountAsProcessed(t *testing.T) {
	g := NewWithT(t)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f22")
	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(time.Now()), interceptor.Funcs{}, Options{})
	answers := []error{
		&partnercenter.APIError{StatusCode: http.StatusTooManyRequests, RetryAfter: time.Second},
		&partnercenter.APIError{StatusCode: http.StatusForbidden, Code: "900121", Description: "credit limit"},
	}
	pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
		err := answers[0]
		answers = answers[1:]
		return nil, err
	}
	for range 2 {
		_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
		g.Expect(err).NotTo(HaveOccurred())
	}
	got := storedCart(t, k8s, cart)
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(2))
	g.Expect(got.Status.Checkout).To(BeNil())
	g.Expect(got.Status.CheckoutHistory).To(HaveLen(1))
	g.Expect(got.Status.CheckoutHistory[0].Outcome).To(Equal(pcv1alpha1.CheckoutRefused))
}

// syncedApprovedCart is an approved cart whose upstream cart "cart-1" holds its spec.
func syncedApprovedCart(uid types.UID) *pcv1alpha1.PartnerCart {
	cart := newCart("ns", "c", withApproved())
	cart.UID = uid
	cart.Finalizers = []string{pcv1alpha1.Finalizer}
	cart.Status.SpecHash = SpecHash(&cart.Spec)
	cart.Status.Cart = &pcv1alpha1.CartStatus{ID: "cart-1", SyncedSpecHash: cart.Status.SpecHash}
	stampAsAdmission(cart)
	return cart
}

// stampAsAdmission stamps an approved cart's approver, as the admission policies do, for
// reconcilers over a fake API server (which runs none).
func stampAsAdmission(cart *pcv1alpha1.PartnerCart) {
	if a := &cart.Spec.Approval; a.Approved && a.ApprovedBy == "" {
		a.ApprovedBy, a.ApprovedAt = "approver@example.com", "2026-01-01T00:00:00Z"
	}
	for _, key := range []string{pcv1alpha1.RepurchaseOfAnnotation, pcv1alpha1.CheckoutResolutionAnnotation} {
		if cart.Annotations[key] != "" && cart.Annotations[key+pcv1alpha1.DecidedBySuffix] == "" {
			cart.Annotations[key+pcv1alpha1.DecidedBySuffix], cart.Annotations[key+pcv1alpha1.DecidedAtSuffix] = "approver@example.com", "2026-01-01T00:00:00Z"
		}
	}
}

// pendingIntent is the first checkout intent of a cart made by syncedApprovedCart, persisted
// with one call made at started and its outcome not known yet.
func pendingIntent(cart *pcv1alpha1.PartnerCart, started time.Time) *pcv1alpha1.CheckoutStatus {
	return &pcv1alpha1.CheckoutStatus{RequestID: checkoutRequestID(cart.UID, "cart-1", 1), CartID: "cart-1",
		SpecHash: cart.Status.SpecHash, Intent: 1, Outcome: pcv1alpha1.CheckoutPending, StartedAt: metav1.NewTime(started), Attempts: 1,
		ApprovedBy: cart.Spec.Approval.ApprovedBy, ApprovedAt: cart.Spec.Approval.ApprovedAt}
}

// receiptWrittenBy writes the receipt of the recorded purchase exactly as ensureReceipt does,
// into a fake API server that holds recorded. It returns that receipt, ready to be created in
// another fake, and that API server.
func receiptWrittenBy(t *testing.T, recorded *pcv1alpha1.PartnerCart) (*corev1.ConfigMap, client.Client) {
	t.Helper()
	g := NewWithT(t)
	writer, api, _ := unitReconciler(recorded, clocktesting.NewFakePassiveClock(recorded.Status.Checkout.StartedAt.Time), interceptor.Funcs{}, Options{})
	g.Expect(writer.ensureReceipt(t.Context(), &scope{r: writer, cart: recorded})).To(Succeed())
	receipt := &corev1.ConfigMap{}
	g.Expect(api.Get(t.Context(), client.ObjectKey{Namespace: unitReceiptNS, Name: receiptName(recorded)}, receipt)).To(Succeed())
	receipt.ResourceVersion = ""
	return receipt, api
}

// unitReceiptNS is the unit reconcilers' receipt namespace.
const unitReceiptNS = "partnercart-system"

// unitReconciler is a reconciler over a fake API server that holds cart and its credentials
// Secret (with funcs intercepting its calls), and a fake Partner Center that holds cart-1 as
// the spec says and no orders.
func unitReconciler(cart *pcv1alpha1.PartnerCart, clk clock.PassiveClock, funcs interceptor.Funcs, opts Options) (*PartnerCartReconciler, client.Client, *pcfake.Client) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cart.Namespace, Name: "partner-center"},
		Data: map[string][]byte{pcv1alpha1.SecretKeyTenantID: []byte(testTenant), pcv1alpha1.SecretKeyClientID: []byte("id"), pcv1alpha1.SecretKeyClientSecret: []byte("x")}}
	stampAsAdmission(cart)
	k8s := withCacheIndexes(fake.NewClientBuilder().WithScheme(testenv.NewScheme())).WithObjects(cart, secret).
		WithStatusSubresource(&pcv1alpha1.PartnerCart{}).
		WithInterceptorFuncs(funcs).Build()
	pc := pcfake.New(pcfake.WithCart(&partnercenter.Cart{ID: "cart-1", Status: partnercenter.CartStatusActive, LineItems: wireLineItems(cart.Spec.LineItems)}),
		pcfake.WithOrders())
	r := &PartnerCartReconciler{Client: k8s, APIReader: k8s, Recorder: events.NewFakeRecorder(100),
		PartnerCenter: pcfake.NewFactory(pc), Clock: clk, Options: opts, Admission: admissionStub("")}
	if r.Options.ReceiptNamespace == "" {
		r.Options.ReceiptNamespace = unitReceiptNS
	}
	r.Options.defaults()
	return r, k8s, pc
}

// TestRecoveryReadsTheReceiptFirst: the manager died after writing the receipt and before the
// status write. Recovery records the purchase from the receipt, without another checkout call
// (which a Partner Center that forgot the request ID could have answered with a refusal).
func TestRecoveryReadsTheReceiptFirst(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().Truncate(time.Second)
	cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f23")
	cart.Status.Checkout = pendingIntent(cart, now)
	// The receipt the dead manager wrote, exactly as ensureReceipt writes it.
	written := cart.DeepCopy()
	written.Status.Orders = []pcv1alpha1.OrderStatus{{ID: "o-1", Status: "completed", TotalPrice: "10.00", CurrencyCode: "USD"}}
	receipt, _ := receiptWrittenBy(t, written)

	r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now.Add(time.Hour)), interceptor.Funcs{}, Options{})
	g.Expect(k8s.Create(t.Context(), receipt)).To(Succeed())
	_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pc.Count(partnercenter.OpCheckout)).To(BeZero())
	got := storedCart(t, k8s, cart)
	g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutSucceeded))
	g.Expect(got.Status.Orders).To(HaveLen(1))
	g.Expect(got.Status.Orders[0].ID).To(Equal("o-1"))
	g.Expect(got.Status.ReceiptName).To(Equal(receipt.Name))
}

// TestUnclearCheckoutAnswersAreUnknown walks the answers no other test sends: 800065 ("already
// submitted") on the first call says something was bought before, so it is Unknown, never a
// refusal; and a call that keeps getting no usable answer stops for a person at the cap.
func TestUnclearCheckoutAnswersAreUnknown(t *testing.T) {
	for name, tc := range map[string]struct {
		answer   error
		attempts int32
		calls    int
	}{
		"800065 on the first call": {&partnercenter.APIError{StatusCode: http.StatusBadRequest, Code: partnercenter.CodeCartAlreadySubmitted}, 0, 1},
		"the call cap":             {&partnercenter.TransportError{Err: errors.New("connection reset")}, maxCheckoutAttempts, 0},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			now := time.Now().Truncate(time.Second)
			cart := syncedApprovedCart("0f6c1b8e-4c9e-4f7e-9a1d-3c5b7d9e1f24")
			if tc.attempts > 0 {
				cart.Status.Checkout = pendingIntent(cart, now)
				cart.Status.Checkout.Attempts = tc.attempts
			}
			r, k8s, pc := unitReconciler(cart, clocktesting.NewFakePassiveClock(now), interceptor.Funcs{}, Options{})
			pc.CheckoutFn = func(context.Context, string, string, string) (*partnercenter.CartCheckoutResult, error) {
				return nil, tc.answer
			}
			_, err := r.Reconcile(t.Context(), reconcileRequest(cart))
			g.Expect(err).NotTo(HaveOccurred())
			got := storedCart(t, k8s, cart)
			g.Expect(got.Status.Checkout).NotTo(BeNil())
			g.Expect(got.Status.Checkout.Outcome).To(Equal(pcv1alpha1.CheckoutUnknown))
			g.Expect(got.Status.CheckoutHistory).To(BeEmpty())
			g.Expect(pc.Count(partnercenter.OpCheckout)).To(Equal(tc.calls))
		})
	}
}

// TestReceiptWritesAfterMark: only receipts whose creation started after the mark prove the
// cache caught up, newest first, and the ring keeps the latest.
func TestReceiptWritesAfterMark(t *testing.T) {
	g := NewWithT(t)
	var w receiptWrites
	key := func(i int) client.ObjectKey { return client.ObjectKey{Namespace: "ns", Name: fmt.Sprintf("r%d", i)} }
	first := w.begin()
	mark := w.mark()
	second := w.begin() // started after the mark, created before the first
	w.created(second, key(2))
	w.created(first, key(1))
	g.Expect(w.after(mark)).To(Equal([]client.ObjectKey{key(2)}))
	g.Expect(w.after(w.mark())).To(BeEmpty())
	for i := range 100 {
		w.created(w.begin(), key(10+i))
	}
	after := w.after(mark)
	g.Expect(after).To(HaveLen(64))
	g.Expect(after[0]).To(Equal(key(109)))

	// The mark taken when the cache first showed a cart is used once, then a later one.
	w.firstSeen("uid-1")
	early := w.mark()
	w.created(w.begin(), key(200))
	w.firstSeen("uid-1") // seen again: the first mark stays
	g.Expect(w.firstMark("uid-1", w.mark())).To(Equal(early))
	g.Expect(w.firstMark("uid-1", w.mark())).To(Equal(w.mark()))
	w.firstSeen("uid-2")
	w.forget("uid-2")
	g.Expect(w.firstMark("uid-2", 7)).To(Equal(uint64(7)))
}

// TestRetryIsAlwaysScheduled: toCtrlResult is the one place a phase result becomes a
// ctrl.Result. A retry (or a wait for Partner Center) that scheduled nothing comes back anyway,
// since its own status write does not wake it; a stall or a wait for a person is left as it
// is; an error is returned alone, never with a requeue (controller-runtime ignores it).
func TestRetryIsAlwaysScheduled(t *testing.T) {
	g := NewWithT(t)
	r := &PartnerCartReconciler{}
	r.Options.defaults()
	failed := errors.New("503")
	for _, tc := range []struct {
		name    string
		res     phaseResult
		want    ctrl.Result
		wantErr error
		backoff bool
	}{
		{"throttled, nothing scheduled", retryAfter(pcv1alpha1.ThrottledReason, "", 0), ctrl.Result{}, nil, true},
		{"orders provisioning, nothing scheduled", waitForUpstream(pcv1alpha1.OrdersProvisioningReason, "", 0), ctrl.Result{}, nil, true},
		{"throttled, retry scheduled", retryAfter(pcv1alpha1.ThrottledReason, "", time.Second), ctrl.Result{RequeueAfter: time.Second}, nil, false},
		{"upstream error returned alone", retryAfter(pcv1alpha1.UpstreamUnavailableReason, "", time.Second).withError(failed), ctrl.Result{}, failed, false},
		{"waiting for approval", waitForPerson(pcv1alpha1.WaitingForApprovalReason, "", pcv1alpha1.EventWaitingForApproval), ctrl.Result{}, nil, false},
		{"stalled", stall("X", ""), ctrl.Result{}, nil, false},
		{"stalled, looked at again", stall("X", "").requeueAfter(time.Minute), ctrl.Result{RequeueAfter: time.Minute}, nil, false},
		{"done", next(), ctrl.Result{}, nil, false},
	} {
		res, err := r.toCtrlResult(t.Context(), tc.res)
		if tc.wantErr != nil {
			g.Expect(err).To(MatchError(tc.wantErr), tc.name)
		} else {
			g.Expect(err).NotTo(HaveOccurred(), tc.name)
		}
		if tc.backoff {
			g.Expect(res.RequeueAfter).To(BeNumerically("~", maxRetryBackoff, maxRetryBackoff/4), tc.name)
		} else {
			g.Expect(res).To(Equal(tc.want), tc.name)
		}
	}
}
