package controller

// The reconciler and the helpers every phase uses: Events, contexts that outlive a shutdown,
// optimistic writes, jitter.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// checkoutChanged reports whether a reconcile changed the state of a money call: the checkout
// intent or its history, or the cancellation.
func checkoutChanged(before, after *pcv1alpha1.PartnerCart) bool {
	return !equality.Semantic.DeepEqual(before.Status.Checkout, after.Status.Checkout) ||
		!equality.Semantic.DeepEqual(before.Status.CheckoutHistory, after.Status.CheckoutHistory) ||
		!equality.Semantic.DeepEqual(before.Status.Cancellation, after.Status.Cancellation)
}

// detached returns a context that a shutdown does not cancel, bounded by the checkout timeout
// and by the process's lifetime.
func (r *PartnerCartReconciler) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return r.detachedFor(ctx, r.Options.CheckoutTimeout)
}

// detachedFor is detached with a timeout of its own.
func (r *PartnerCartReconciler) detachedFor(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	if r.Lifetime == nil {
		return c, cancel
	}
	stop := context.AfterFunc(r.Lifetime, cancel)
	return c, func() { stop(); cancel() }
}

// PartnerCartReconciler reconciles PartnerCart objects.
type PartnerCartReconciler struct {
	// Client reads PartnerCarts from the cache and writes to the API server.
	Client client.Client
	// APIReader reads Secrets directly from the API server: the operator caches Secret
	// metadata only, never their data.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// PartnerCenter returns a Partner Center client for a cart's credentials.
	PartnerCenter partnercenter.Factory
	Clock         clock.PassiveClock
	Options       Options
	// Lifetime ends only when the process dies: a checkout call and the writes that record it
	// run on it (and the checkout timeout), not on the reconcile's context, which a shutdown
	// or a lost lease cancels. Default: never cancelled. Tests cancel it to simulate a crash.
	Lifetime context.Context
	// Admission says whether the approval admission policies are in force (AdmissionPolicies).
	// Until it says so, and when it is nil, no checkout starts and no decision annotation is
	// read: an approval without them proves nothing.
	Admission AdmissionCheck

	credentials   credentialsCache
	recentOrders  ordersCache
	receiptWrites receiptWrites
	// checkouts counts checkout calls in flight with the writes that record them.
	checkouts sync.WaitGroup
	// jitterRand replaces math/rand/v2 in requeue jitter when set: only the checkout
	// simulation sets it, to its seeded source, so that a seed replays exactly.
	jitterRand func() float64
}

// WaitForCheckouts waits until no checkout call is in flight (with the writes that record its
// answer), or ctx ends. The manager calls it before the process exits: controller-runtime
// gives up its graceful shutdown when the leader lease is lost, and a call cut off there
// would leave its answer unrecorded.
func (r *PartnerCartReconciler) WaitForCheckouts(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.checkouts.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("checkout calls still in flight: %w", ctx.Err())
	}
}

// eventf records a Kubernetes Event about the cart. The reason doubles as the action.
func (r *PartnerCartReconciler) eventf(cart *pcv1alpha1.PartnerCart, eventType, reason, note string, args ...any) {
	r.Recorder.Eventf(cart, nil, eventType, reason, reason, note, args...)
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// jitter is jitter(d) drawn from r.jitterRand when set (the checkout simulation's seeded
// source, so that a seed replays the same requeue waits), from math/rand/v2 otherwise.
func (r *PartnerCartReconciler) jitter(d time.Duration) time.Duration {
	if r == nil || r.jitterRand == nil {
		return jitter(d)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*r.jitterRand()))
}

// maxRetryBackoff caps the wait before retrying a failed reconcile. client-go's default grows to
// 1000 s; a cart whose every step meets a flaky Partner Center would then sit idle for many
// minutes after it recovered. The per-tenant client limiter, not this, bounds the call rate.
const maxRetryBackoff = 30 * time.Second
