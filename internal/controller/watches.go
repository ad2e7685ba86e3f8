package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"golang.org/x/time/rate"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// secretRefIndex indexes PartnerCarts by the name of their credentials Secret, so that a
// created or rotated Secret wakes exactly the carts that use it; accountRefIndex by their
// PartnerCenterAccount, so that a changed account wakes its carts (and is counted by them).
const (
	secretRefIndex  = "spec.credentialsSecretRef.name"
	accountRefIndex = "spec.accountRef.name"
)

// SetupWithManager declares the watches; the manager's cache must have the indexes of
// AddIndexes and the options of CacheOptions. What wakes a cart:
//   - its own spec and annotation changes (our status writes do not wake us), and its first
//     sight in the cache (which takes the receipt-cache mark, markCartsSeen);
//   - Secret metadata, mapped to the carts naming the Secret (credentialsSecretRef);
//   - a PartnerCenterAccount whose generation or readiness changed, mapped to its carts;
//   - a Namespace whose labels changed, mapped to its carts stopped by an account's allow-list
//     (a label that now matches the account's namespace selector lets them go on);
//   - a receipt deleted, mapped to the cart it records, which writes it again.
func (r *PartnerCartReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	return r.setupWithManager(mgr, maxConcurrent, r)
}

// setupWithManager is SetupWithManager with the reconciler the controller calls: r itself in
// the manager, r wrapped by the tests' harness, which records the reconciles that finished.
func (r *PartnerCartReconciler) setupWithManager(mgr ctrl.Manager, maxConcurrent int, rec reconcile.Reconciler) error {
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
	return ctrl.NewControllerManagedBy(mgr).
		For(&pcv1alpha1.PartnerCart{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}), r.markCartsSeen())).
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
		Complete(rec)
}

// AddIndexes registers the cache indexes both reconcilers list by, once per manager (an
// informer takes each index once, so neither SetupWithManager registers them):
//   - secretRefIndex: carts by credentials Secret, so a created or rotated Secret wakes exactly
//     the carts that use it;
//   - accountRefIndex: carts by PartnerCenterAccount, so a changed account wakes its carts and
//     the account reconciler counts them;
//   - receiptCartIndex: receipts by the cart they record, for the re-purchase guard and the
//     receipt lookup.
func AddIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	for _, idx := range cacheIndexes() {
		if err := indexer.IndexField(ctx, idx.obj, idx.field, idx.extract); err != nil {
			return fmt.Errorf("index %s: %w", idx.field, err)
		}
	}
	return nil
}

// cacheIndex is one index of AddIndexes (the unit tests' fake clients take the same list).
type cacheIndex struct {
	obj     client.Object
	field   string
	extract client.IndexerFunc
}

func cacheIndexes() []cacheIndex {
	return []cacheIndex{
		{&pcv1alpha1.PartnerCart{}, secretRefIndex, cartSecrets},
		{&pcv1alpha1.PartnerCart{}, accountRefIndex, cartAccounts},
		{receiptMetadata(), receiptCartIndex, receiptIndexValue},
	}
}

// cartSecrets is the credentials Secret a cart names, if any (secretRefIndex).
func cartSecrets(o client.Object) []string {
	if ref := o.(*pcv1alpha1.PartnerCart).Spec.CredentialsSecretRef; ref != nil {
		return []string{ref.Name}
	}
	return nil
}

// CacheOptions adds to opts what the reconcilers' cache needs, for the manager's options o:
//   - ConfigMaps are cached as metadata, only receipts (the reconciler reads no other
//     ConfigMap) and only in the receipt namespace, where the manager writes them: it needs no
//     ConfigMap access anywhere else.
//   - Secret metadata is cached only in the credentials namespace (the Secrets of
//     PartnerCenterAccounts; the receipt namespace when none is set): a tenant's Secret named by
//     spec.credentialsSecretRef is read with a direct get when a call needs it, so the manager
//     needs neither list nor watch on Secrets outside its own namespace.
//   - Every object is trimmed of what the reconcilers never read (TrimForCache).
func CacheOptions(opts cache.Options, o Options) cache.Options {
	if opts.ByObject == nil {
		opts.ByObject = map[client.Object]cache.ByObject{}
	}
	opts.ByObject[receiptMetadata()] = cache.ByObject{
		Namespaces: map[string]cache.Config{o.ReceiptNamespace: {}},
		Label:      labels.SelectorFromSet(labels.Set{pcv1alpha1.ReceiptLabel: "true"}),
	}
	opts.ByObject[CoreMetadata("Secret")] = cache.ByObject{
		Namespaces: map[string]cache.Config{cmp.Or(o.CredentialsNamespace, o.ReceiptNamespace): {}},
	}
	opts.DefaultTransform = TrimForCache
	return opts
}

// CoreMetadata is an empty metadata-only object of a core/v1 kind (ConfigMap, Secret,
// Namespace): what the manager caches of the kinds whose data it never keeps.
func CoreMetadata(kind string) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return m
}

func retryRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryBackoff),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
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
	ns, label, uid := receipt.GetLabels()[pcv1alpha1.ReceiptCartNamespaceLabel], receipt.GetLabels()[pcv1alpha1.ReceiptCartLabel], receipt.GetLabels()[pcv1alpha1.ReceiptCartUIDLabel]
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
