package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// The re-purchase guard looks, before every first intent, for receipts of an earlier object of
// the same namespace and name. Listing them from the API server cost a LIST per new cart (the
// busiest request after the writes at scale), so the manager keeps the metadata of receipts
// (and of no other ConfigMap) in its cache, indexed by namespace and cart label, and reads a
// receipt's data from the API server only when one of another object is found.
//
// A cache can lag, and here a lag could buy twice: a receipt written just before its object
// was deleted (deletion waits for it) and the object re-applied at once (Argo CD Replace) may
// not have reached this cache when the new object's guard runs; the guard would then find
// nothing, and the identical-purchase guard would not stop it either (that order is recorded
// by a receipt). So a cache miss is trusted only when the cache provably holds every receipt
// created before the cart existed; otherwise the receipts are listed from the API server, as
// before.
//
// The proof is a receipt this process started to create after its cache first showed the cart
// (or after the reconcile read it): an earlier object's receipt was created before that
// object was deleted, so before the new object was created, so before the cache showed it,
// so before that later receipt. One watch delivers
// the ConfigMaps it sees in the order they were written (and a re-list returns a consistent
// snapshot), so once the cache shows the later receipt it holds the earlier one. This needs no
// clocks and no comparison of resource versions, holds whoever wrote the receipt (this process,
// another manager, a predecessor before a restart), and costs nothing in a burst of purchases,
// where receipts are written all the time. A lone cart, or one whose guard runs before any
// such receipt reached the cache, is checked against the API server.

// receiptCartIndex indexes cached receipt metadata by the cart's namespace and cart label.
const receiptCartIndex = "receipt.cart"

// receiptMetadata is the cached form of a receipt: its metadata only.
func receiptMetadata() *metav1.PartialObjectMetadata { return CoreMetadata("ConfigMap") }

func receiptIndexKey(namespace, cartLabel string) string { return namespace + "/" + cartLabel }

// receiptWrites remembers the receipts this process created lately, numbered in the order
// their creation was started, so that a reconcile can tell whether the cache has caught up
// with a moment after it read its cart.
type receiptWrites struct {
	started atomic.Uint64 // creations started so far

	mu     sync.Mutex
	recent [64]receiptWrite // ring of the latest created receipts
	next   int
	// seen holds, for each cart not yet checked out, the mark taken when the cache first
	// showed it: the earliest valid mark, so that a cart that waited in the queue finds the
	// receipts written meanwhile.
	seen map[types.UID]uint64
}

type receiptWrite struct {
	seq uint64
	key client.ObjectKey
}

// firstSeen records the mark for a cart the cache shows for the first time.
func (w *receiptWrites) firstSeen(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[types.UID]uint64{}
	}
	if _, ok := w.seen[uid]; !ok {
		w.seen[uid] = w.started.Load()
	}
}

// firstMark returns (and forgets) the mark taken when the cart was first seen, or fallback,
// a mark taken later, when there is none.
func (w *receiptWrites) firstMark(uid types.UID, fallback uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m, ok := w.seen[uid]; ok {
		delete(w.seen, uid)
		return min(m, fallback)
	}
	return fallback
}

// forget drops the mark of a deleted cart.
func (w *receiptWrites) forget(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.seen, uid)
}

// markCartsSeen is the PartnerCart watch's predicate that takes the marks: a cart the cache
// shows (at start or when created) without a checkout may need the guard.
func (r *PartnerCartReconciler) markCartsSeen() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool {
			if c, ok := e.Object.(*pcv1alpha1.PartnerCart); ok && c.Status.Checkout == nil {
				r.receiptWrites.firstSeen(c.UID)
			}
			return true
		},
		DeleteFunc: func(e event.DeleteEvent) bool {
			r.receiptWrites.forget(e.Object.GetUID())
			return true
		},
	}
}

// mark returns the number of receipt creations started so far.
func (w *receiptWrites) mark() uint64 { return w.started.Load() }

// begin numbers a receipt creation about to be sent.
func (w *receiptWrites) begin() uint64 { return w.started.Add(1) }

// created records a receipt that the API server created.
func (w *receiptWrites) created(seq uint64, key client.ObjectKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recent[w.next] = receiptWrite{seq: seq, key: key}
	w.next = (w.next + 1) % len(w.recent)
}

// after returns the receipts created by creations started after mark, newest first.
func (w *receiptWrites) after(mark uint64) []client.ObjectKey {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keys []client.ObjectKey
	for i := 1; i <= len(w.recent); i++ {
		e := w.recent[(w.next-i+len(w.recent))%len(w.recent)]
		if e.seq > mark {
			keys = append(keys, e.key)
		}
	}
	return keys
}

// receiptCacheCaughtUp reports whether the cache shows a receipt whose creation started after
// mark: then it holds every receipt created before mark (see above).
func (r *PartnerCartReconciler) receiptCacheCaughtUp(ctx context.Context, mark uint64) bool {
	for _, key := range r.receiptWrites.after(mark) {
		if err := r.Client.Get(ctx, key, receiptMetadata()); err == nil {
			return true
		}
	}
	return false
}

// earlierReceipts returns the receipts (with their data) of another object of the cart's
// namespace that carry its cart label (the same name) or its content label (the same purchase
// content, under any name): from the cache when it provably holds them all, otherwise from the
// API server. Only receipts in the receipt namespace count: only the manager writes there.
func (r *PartnerCartReconciler) earlierReceipts(ctx context.Context, s *scope) ([]corev1.ConfigMap, error) {
	cart := s.cart
	label := cartLabelValue(cart.Name)
	inReceipts := client.InNamespace(r.Options.ReceiptNamespace)
	sameName := client.MatchingLabels{pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: cart.Namespace, pcv1alpha1.ReceiptCartLabel: label}
	sameContent := client.MatchingLabels{pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: cart.Namespace,
		pcv1alpha1.ReceiptContentLabel: contentLabelValue(cart.Status.SpecHash)}
	var metas []metav1.PartialObjectMetadata
	for _, opt := range []client.ListOption{client.MatchingFields{receiptCartIndex: receiptIndexKey(cart.Namespace, label)}, sameContent} {
		cached := &metav1.PartialObjectMetadataList{}
		cached.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
		if err := r.Client.List(ctx, cached, inReceipts, opt); err != nil {
			return nil, fmt.Errorf("list cached receipts of %s: %w", cart.Name, err)
		}
		metas = append(metas, cached.Items...)
	}
	var found []corev1.ConfigMap
	seen := map[string]bool{}
	for _, m := range metas {
		if m.Labels[pcv1alpha1.ReceiptCartUIDLabel] == string(cart.UID) || seen[m.Name] {
			continue // this object's own receipt, or one listed twice
		}
		seen[m.Name] = true
		cm := &corev1.ConfigMap{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.Name}, cm); err != nil {
			if apierrors.IsNotFound(err) {
				continue // deleted since
			}
			return nil, fmt.Errorf("read receipt %s: %w", m.Name, err)
		}
		found = append(found, *cm)
	}
	// A receipt with orders decides the guard whatever else exists (it stops the cart, or the
	// repurchase-of annotation names it); otherwise the cache must have caught up.
	if slices.ContainsFunc(found, recordsOrders) || r.receiptCacheCaughtUp(ctx, r.receiptWrites.firstMark(cart.UID, s.receiptMark)) {
		return found, nil
	}
	// The cache may not hold a receipt written just before the cart was created: ask the API server.
	found = found[:0]
	clear(seen)
	for _, selector := range []client.MatchingLabels{sameName, sameContent} {
		var list corev1.ConfigMapList
		if err := r.APIReader.List(ctx, &list, inReceipts, selector); err != nil {
			return nil, fmt.Errorf("list receipts of %s: %w", cart.Name, err)
		}
		for _, cm := range list.Items {
			if !seen[cm.Name] {
				seen[cm.Name] = true
				found = append(found, cm)
			}
		}
	}
	return found, nil
}

func receiptIndexValue(o client.Object) []string {
	if ns, l := o.GetLabels()[pcv1alpha1.ReceiptCartNamespaceLabel], o.GetLabels()[pcv1alpha1.ReceiptCartLabel]; ns != "" && l != "" {
		return []string{receiptIndexKey(ns, l)}
	}
	return nil
}

func recordsOrders(cm corev1.ConfigMap) bool {
	rec, err := decodeReceipt(&cm)
	return err == nil && len(rec.Orders) > 0
}
