// Package controller reconciles PartnerCarts: it creates and PUTs the cart upstream, gates the
// checkout on approval, checks the cart out at most once, tracks the orders, and records every
// purchase in status and in an immutable receipt.
package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/printable"
)

// secretRefIndex indexes PartnerCarts by the name of their credentials Secret, so that a
// created or rotated Secret wakes exactly the carts that use it; accountRefIndex by their
// PartnerCenterAccount, so that a changed account wakes its carts (and is counted by them).
const (
	secretRefIndex  = "spec.credentialsSecretRef.name"
	accountRefIndex = "spec.accountRef.name"
)

// Options tune the reconciler. Zero values take the defaults below.
type Options struct {
	// OrderPollInterval is the first wait between order polls; later waits grow with the
	// order's age, up to MaxOrderPollInterval, with jitter.
	OrderPollInterval    time.Duration
	MaxOrderPollInterval time.Duration
	// CredentialsRetryInterval is the slow retry after missing or refused credentials.
	CredentialsRetryInterval time.Duration
	// CartExpiryMargin: a cart that expires within this margin is re-created before checkout
	// rather than risk expiring mid-checkout.
	CartExpiryMargin time.Duration
	// SubscriptionIDWait is how long completed orders are still polled for subscription IDs.
	SubscriptionIDWait time.Duration
	// CheckoutTimeout bounds one checkout call and the writes that record it; it is also the
	// deadline after which another process may repeat a call this one made. A shutdown waits
	// for a call in flight, up to this long.
	CheckoutTimeout time.Duration
	// Identity names this manager process in status.checkout.owner (default: host name and a
	// random suffix, new at every start).
	Identity string
	// IdenticalPurchaseWindow: before a first checkout with no receipt of the same name, the
	// customer's orders created within this window are searched for exactly the cart's lines
	// (a cluster rebuilt from Git must not buy again). Zero takes the default, seven days (the
	// New-Commerce cancellation window); a negative value disables the search.
	IdenticalPurchaseWindow time.Duration
	// CredentialsNamespace is where PartnerCenterAccount Secrets live (--credentials-namespace).
	CredentialsNamespace string
	// ReceiptNamespace is where receipts live (--receipt-namespace, by default the manager's
	// own namespace): out of tenants' reach, and the only namespace whose receipts count.
	// Required.
	ReceiptNamespace string
	// WorkloadIdentityTokenPath is the manager's projected token, for workloadIdentity accounts
	// that name no tokenPath (default DefaultWorkloadIdentityTokenPath).
	WorkloadIdentityTokenPath string
	// DenyNamespaceCredentials (--allow-namespace-credentials=false) refuses carts that name a
	// Secret of their own namespace: only PartnerCenterAccounts buy, and the manager needs no
	// Secret read outside the credentials namespace.
	DenyNamespaceCredentials bool
	// PurchaseFreeze stops every new checkout (an operator-wide kill switch): carts are still
	// created, synced and approved, and checkouts already started are still recovered, so no
	// purchase in flight is lost.
	PurchaseFreeze bool
}

// Defaults of the Options the manager has flags for; its flags show these same values.
const (
	DefaultOrderPollInterval        = 5 * time.Second
	DefaultMaxOrderPollInterval     = 10 * time.Minute
	DefaultCredentialsRetryInterval = 5 * time.Minute
	// DefaultIdenticalPurchaseWindow is the New-Commerce cancellation window.
	DefaultIdenticalPurchaseWindow = 7 * 24 * time.Hour
)

func (o *Options) defaults() {
	setDefault(&o.OrderPollInterval, DefaultOrderPollInterval)
	setDefault(&o.MaxOrderPollInterval, DefaultMaxOrderPollInterval)
	setDefault(&o.CredentialsRetryInterval, DefaultCredentialsRetryInterval)
	setDefault(&o.CartExpiryMargin, 15*time.Minute)
	setDefault(&o.SubscriptionIDWait, time.Hour)
	setDefault(&o.CheckoutTimeout, DefaultCheckoutTimeout)
	if o.IdenticalPurchaseWindow == 0 {
		o.IdenticalPurchaseWindow = DefaultIdenticalPurchaseWindow
	}
	if o.Identity == "" {
		o.Identity = NewIdentity()
	}
	if o.WorkloadIdentityTokenPath == "" {
		o.WorkloadIdentityTokenPath = DefaultWorkloadIdentityTokenPath
	}
}

// DefaultCheckoutTimeout is the default Options.CheckoutTimeout.
const DefaultCheckoutTimeout = 2 * time.Minute

// NewIdentity names a manager process: its host name (the pod name) and a random suffix, so a
// restarted container is a new owner that waits out its predecessor's checkout deadline.
func NewIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "manager"
	}
	return host + "_" + uuid.NewString()[:8]
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
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

// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercarts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercarts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=partnercenter.partnercart.dev,resources=partnercarts/finalizers,verbs=update
// Receipts (ConfigMaps) only in the receipt namespace: config/rbac/receipts_role.yaml, a Role.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile moves one PartnerCart through its lifecycle. Status is written once, at the end,
// except for the checkout intent, which the exactly-once protocol must persist before the call.
func (r *PartnerCartReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	cart := &pcv1alpha1.PartnerCart{}
	if err := r.Client.Get(ctx, req.NamespacedName, cart); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("customerID", cart.Spec.CustomerID)
	ctx = ctrl.LoggerInto(ctx, log)

	if !controllerutil.ContainsFinalizer(cart, pcv1alpha1.Finalizer) {
		if !cart.DeletionTimestamp.IsZero() {
			return ctrl.Result{}, nil
		}
		// The finalizer goes on before the first upstream call, so no purchase can happen
		// on an object that could vanish without a record.
		// The optimistic lock keeps other controllers' finalizers: a merge patch replaces the list.
		patch := optimisticMergeFrom(cart.DeepCopy())
		controllerutil.AddFinalizer(cart, pcv1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, cart, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	s := newScope(r, cart)
	// Receipts whose creation starts from now on were written after the cart was read.
	s.receiptMark = r.receiptWrites.mark()
	defer func() {
		res = s.retryScheduled(ctx, res, retErr)
		retErr = r.patchStatus(ctx, s, retErr)
	}()
	migrateLegacyCheckout(cart)
	r.withdrawUnprocessedIntent(ctx, s)

	if !cart.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	return r.reconcileNormal(ctx, s)
}

// reconcileNormal runs the lifecycle phases in order; the first that has to wait or fail ends
// the reconcile.
func (r *PartnerCartReconciler) reconcileNormal(ctx context.Context, s *scope) (ctrl.Result, error) {
	phases := []func(context.Context, *scope) (ctrl.Result, error){
		r.reconcileCart,
		r.reconcileApproval,
		r.reconcileCheckout,
		r.reconcileOrders,
	}
	for _, phase := range phases {
		if res, err := phase(ctx, s); err != nil || !res.IsZero() || s.done || s.stalled != nil {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

// reconcileDelete lets the object go once nothing can be lost: with no checkout started (or
// only refused ones) it goes at once (an unused cart expires upstream); with a checkout whose
// outcome is not settled it first establishes it, and waits for a person if it cannot; after a
// purchase it makes sure the receipt exists (Orphan policy).
func (r *PartnerCartReconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	cart := s.cart
	if co := cart.Status.Checkout; co != nil && !co.Outcome.Final() {
		res, err := r.reconcileCheckout(ctx, s)
		if co := cart.Status.Checkout; co != nil && !co.Outcome.Final() {
			s.deletionBlocked = "Deletion waits until the outcome of the checkout of cart " + co.CartID + " is recorded"
			switch {
			case co.Outcome == pcv1alpha1.CheckoutUnknown:
				s.deletionBlocked += ": settle it with the annotation " + pcv1alpha1.CheckoutResolutionAnnotation + " (see the Stalled condition)"
			case s.waitMessage != "":
				s.deletionBlocked += ": " + s.waitMessage
			}
			return res, err
		}
		if err != nil {
			return res, err
		}
	}
	if co := cart.Status.Checkout; co != nil && co.Outcome.Final() && (len(cart.Status.Orders) > 0 || co.Resolution != "") {
		if err := r.ensureReceipt(ctx, s); err != nil {
			s.deletionBlocked = "Deletion waits until the receipt of the purchase is written: " + err.Error()
			return ctrl.Result{}, err
		}
		r.eventf(cart, corev1.EventTypeNormal, pcv1alpha1.EventReceiptRecorded,
			"PartnerCart deleted with deletionPolicy Orphan: subscriptions of orders %s are left alone; receipt ConfigMap %s/%s keeps the record",
			orderIDs(cart.Status.Orders), r.Options.ReceiptNamespace, cart.Status.ReceiptName)
	}
	patch := optimisticMergeFrom(cart.DeepCopy())
	controllerutil.RemoveFinalizer(cart, pcv1alpha1.Finalizer)
	if err := r.Client.Patch(ctx, cart, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s.noStatusWrite = true
	if s.checkoutResult != "" {
		// Settled on the way out: the receipt, not the status, keeps the record.
		observeCheckout(cart, s.checkoutResult, s.now)
	}
	return ctrl.Result{}, nil
}

// migrateLegacyCheckout gives an intent recorded before status.checkout.outcome existed its
// outcome, from the fields that version wrote.
func migrateLegacyCheckout(cart *pcv1alpha1.PartnerCart) {
	co := cart.Status.Checkout
	if co == nil || co.Outcome != "" {
		return
	}
	if co.Intent == 0 {
		co.Intent = 1
	}
	reason := conditionReason(cart, pcv1alpha1.CheckedOutCondition)
	switch {
	case co.CompletedAt == nil && reason == pcv1alpha1.CheckoutOutcomeUnknownReason:
		co.Outcome, co.Message = pcv1alpha1.CheckoutUnknown, conditionMessage(cart, pcv1alpha1.CheckedOutCondition)
	case co.CompletedAt == nil && reason == pcv1alpha1.CheckoutFailedReason,
		co.CompletedAt != nil && co.Resolution == "" && len(cart.Status.Orders) == 0:
		// That release wrote CheckoutFailed for a definite refusal of the first call, but also
		// for a refused repeat after a call that may have committed; and it completed a 200
		// without orders. Its record cannot tell "nothing bought" from "bought": repeating the
		// call, or treating it as refused, could buy twice. A person settles it.
		co.Outcome, co.CompletedAt = pcv1alpha1.CheckoutUnknown, nil
		co.Message = printable.Truncate(fmt.Sprintf("This checkout was recorded by an earlier release whose record cannot tell whether it bought (%s). "+
			"Check the orders of customer %s created since %s in Partner Center (MS-RequestId %s) and record what you find with the annotation %s=%s/nothing-bought or %s=%s/orders=<id>[,<id>...]",
			conditionMessage(cart, pcv1alpha1.CheckedOutCondition), co.CustomerID, co.StartedAt.UTC().Format(time.RFC3339), co.RequestID,
			pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID, pcv1alpha1.CheckoutResolutionAnnotation, co.RequestID), 2048)
	case co.CompletedAt == nil:
		// That release may not have counted its calls: one may have been made.
		co.Outcome, co.Attempts = pcv1alpha1.CheckoutPending, max(co.Attempts, 1)
	case strings.HasSuffix(co.Resolution, resolutionNothingBought):
		co.Outcome, co.Message = pcv1alpha1.CheckoutAbandoned, conditionMessage(cart, pcv1alpha1.CheckedOutCondition)
	case co.Resolution != "":
		co.Outcome = pcv1alpha1.CheckoutResolved
	case len(cart.Status.OrderErrors) > 0:
		co.Outcome = pcv1alpha1.CheckoutPartiallySucceeded
	default:
		co.Outcome = pcv1alpha1.CheckoutSucceeded
	}
}

// withdrawUnprocessedIntent drops a Pending intent none of whose calls Partner Center
// processed (each was refused before it: no token, 401, 429, the client's tenant gate; such a
// call is taken back from attempts). Nothing was bought, so nothing is lost; and the gate
// (approval, pin, price limits, account ceiling, freeze, the re-purchase guard) runs again, as
// for a new intent, before any call: an approval withdrawn, a freeze or a deletion meanwhile
// stops it. A new intent made on the same cart gets the same request ID (the intent number
// comes from the history, which this does not touch).
func (r *PartnerCartReconciler) withdrawUnprocessedIntent(ctx context.Context, s *scope) {
	co := s.cart.Status.Checkout
	if co == nil || co.Outcome != pcv1alpha1.CheckoutPending || co.Attempts > 0 || co.CartSeenOrdered {
		return
	}
	ctrl.LoggerFrom(ctx).Info("Withdrawing a checkout intent no call of which reached Partner Center", "requestID", co.RequestID)
	s.cart.Status.Checkout = nil
}

// checkoutChanged reports whether a reconcile changed the checkout's state: the intent or its
// history.
func checkoutChanged(before, after *pcv1alpha1.PartnerCart) bool {
	return !equality.Semantic.DeepEqual(before.Status.Checkout, after.Status.Checkout) ||
		!equality.Semantic.DeepEqual(before.Status.CheckoutHistory, after.Status.CheckoutHistory)
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

// SetupWithManager declares the watches: PartnerCart spec and annotation changes (our own
// status writes do not wake us), and Secret metadata, mapped to the carts using the Secret.
func (r *PartnerCartReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	if r.Client == nil || r.APIReader == nil || r.Recorder == nil || r.PartnerCenter == nil {
		return errors.New("PartnerCartReconciler needs Client, APIReader, Recorder and PartnerCenter")
	}
	if r.Options.ReceiptNamespace == "" {
		return errors.New("PartnerCartReconciler needs Options.ReceiptNamespace: receipts are kept nowhere else")
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.Options.defaults()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &pcv1alpha1.PartnerCart{}, secretRefIndex,
		func(o client.Object) []string {
			if ref := o.(*pcv1alpha1.PartnerCart).Spec.CredentialsSecretRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("index credentials secret refs: %w", err)
	}
	if err := indexReceipts(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("index receipts: %w", err)
	}
	if err := indexCartAccounts(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&pcv1alpha1.PartnerCart{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}), r.observeCarts())).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.cartsForSecret)).
		Watches(&pcv1alpha1.PartnerCenterAccount{}, handler.EnqueueRequestsFromMapFunc(r.cartsForAccount),
			builder.WithPredicates(accountChanged())).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.cartsNotAllowedIn),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.cartOfReceipt),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc: func(event.CreateEvent) bool { return false },
				UpdateFunc: func(event.UpdateEvent) bool { return false },
			})).
		Named("partnercart").
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent, RateLimiter: retryRateLimiter()}).
		Complete(r)
}

// maxRetryBackoff caps the wait before retrying a failed reconcile. client-go's default grows to
// 1000 s; a cart whose every step meets a flaky Partner Center would then sit idle for many
// minutes after it recovered. The per-tenant client limiter, not this, bounds the call rate.
const maxRetryBackoff = 30 * time.Second

func retryRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryBackoff),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// eventf records a Kubernetes Event about the cart. The reason doubles as the action.
func (r *PartnerCartReconciler) eventf(cart *pcv1alpha1.PartnerCart, eventType, reason, note string, args ...any) {
	r.Recorder.Eventf(cart, nil, eventType, reason, reason, note, args...)
}

// cartsForSecret maps a Secret to the PartnerCarts in its namespace that reference it.
func (r *PartnerCartReconciler) cartsForSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	return r.cartRequests(ctx, "Secret "+klog.KObj(secret).String(), unfinished,
		client.InNamespace(secret.GetNamespace()), client.MatchingFields{secretRefIndex: secret.GetName()})
}

// unfinished: a Completed cart makes no upstream calls; waking it would only cost a reconcile.
func unfinished(c *pcv1alpha1.PartnerCart) bool { return c.Status.Phase != pcv1alpha1.PhaseCompleted }

// cartRequests maps a watched object (what) to the cached carts that opts select and wake
// says to wake. The carts are only read, so the list is not deep-copied.
func (r *PartnerCartReconciler) cartRequests(ctx context.Context, what string, wake func(*pcv1alpha1.PartnerCart) bool,
	opts ...client.ListOption) []reconcile.Request {
	var carts pcv1alpha1.PartnerCartList
	if err := r.Client.List(ctx, &carts, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the PartnerCarts of "+what)
		return nil
	}
	var reqs []reconcile.Request
	for i := range carts.Items {
		if c := &carts.Items[i]; wake(c) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(c)})
		}
	}
	return reqs
}

// cartOfReceipt maps a deleted receipt to the cart it records (by its labels: the receipt lives
// in the receipt namespace, the cart in its own), so that the cart writes it again while it
// exists (the receipt is the record that outlives the object).
func (r *PartnerCartReconciler) cartOfReceipt(ctx context.Context, receipt client.Object) []reconcile.Request {
	ns, label, uid := receipt.GetLabels()[ReceiptCartNamespaceLabel], receipt.GetLabels()[ReceiptCartLabel], receipt.GetLabels()[ReceiptCartUIDLabel]
	if ns == "" || label == "" {
		return nil
	}
	return r.cartRequests(ctx, "receipt "+klog.KObj(receipt).String(), func(c *pcv1alpha1.PartnerCart) bool {
		return cartLabelValue(c.Name) == label && string(c.UID) == uid
	}, client.InNamespace(ns))
}

// cartAccounts are the PartnerCenterAccounts a cart uses: the one its spec names and the one
// its checkout intent was made with.
func cartAccounts(o client.Object) []string {
	cart := o.(*pcv1alpha1.PartnerCart)
	var out []string
	if ref := cart.Spec.AccountRef; ref != nil {
		out = append(out, ref.Name)
	}
	if co := cart.Status.Checkout; co != nil && co.Account != "" && !slices.Contains(out, co.Account) {
		out = append(out, co.Account)
	}
	return out
}

// cartsForAccount maps a PartnerCenterAccount to the unfinished carts that use it: a changed
// allow-list, ceiling or credential, or an account that became Ready, is acted on at once.
func (r *PartnerCartReconciler) cartsForAccount(ctx context.Context, acct client.Object) []reconcile.Request {
	return r.cartRequests(ctx, "PartnerCenterAccount "+acct.GetName(), unfinished,
		client.MatchingFields{accountRefIndex: acct.GetName()})
}

// cartsNotAllowedIn maps a namespace whose labels changed to its carts stopped by an account's
// allow-list: a label that now matches the account's selector lets them go on.
func (r *PartnerCartReconciler) cartsNotAllowedIn(ctx context.Context, ns client.Object) []reconcile.Request {
	return r.cartRequests(ctx, "namespace "+ns.GetName(), func(c *pcv1alpha1.PartnerCart) bool {
		return conditionReason(c, pcv1alpha1.StalledCondition) == pcv1alpha1.AccountNotAllowedReason
	}, client.InNamespace(ns.GetName()))
}

// accountChanged passes an account's spec changes and changes of its Ready status, not the
// hourly refresh of status.lastTokenAt, which would wake every cart using it.
func accountChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldAcct, okOld := e.ObjectOld.(*pcv1alpha1.PartnerCenterAccount)
		newAcct, okNew := e.ObjectNew.(*pcv1alpha1.PartnerCenterAccount)
		if !okOld || !okNew {
			return true
		}
		return oldAcct.Generation != newAcct.Generation ||
			apimeta.IsStatusConditionTrue(oldAcct.Status.Conditions, pcv1alpha1.ReadyCondition) !=
				apimeta.IsStatusConditionTrue(newAcct.Status.Conditions, pcv1alpha1.ReadyCondition)
	}}
}

// patchStatus writes the status once, at the end of a reconcile, with the summary
// conditions derived from the outcome. The patch is a diff against the object as read, so a
// reconcile never overwrites fields it did not change.
func (r *PartnerCartReconciler) patchStatus(ctx context.Context, s *scope, retErr error) error {
	if s.noStatusWrite {
		return retErr
	}
	s.err = retErr
	summarize(s.cart, s.outcome)
	// Compare what would be sent, not the Go values: times read back from the API server
	// have second precision, so equal statuses can differ in memory.
	data, err := client.MergeFrom(s.before).Data(s.cart)
	if err != nil {
		return errors.Join(retErr, fmt.Errorf("compute status patch: %w", err))
	}
	if string(data) == "{}" {
		return retErr
	}
	if checkoutChanged(s.before, s.cart) {
		// The checkout's state is written only over the state it was decided from: a late or
		// stale writer (a second manager, a reconcile that read an old copy) must not turn a
		// recorded purchase back into Pending or Unknown, or drop an intent another process
		// has in flight. A lost race loses nothing: the receipt is written before a purchase
		// is recorded here, and an intent's repeat carries the same request ID.
		if data, err = optimisticMergeFrom(s.before).Data(s.cart); err != nil {
			return errors.Join(retErr, fmt.Errorf("compute status patch: %w", err))
		}
	}
	// A shutdown must not drop the record of a checkout that just happened.
	ctx, cancel := r.detached(ctx)
	defer cancel()
	if err := r.Client.Status().Patch(ctx, s.cart, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsNotFound(err) {
			return retErr
		}
		return errors.Join(retErr, fmt.Errorf("patch status: %w", err))
	}
	if s.checkoutResult != "" {
		observeCheckout(s.cart, s.checkoutResult, s.now)
	}
	return retErr
}
