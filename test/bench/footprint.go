package main

import (
	"context"
	"fmt"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/controller"
	"github.com/partnercart/partnercart-operator/internal/harness"
)

// cacheFootprint measures what the manager's cache holds per cart: the namespace's completed
// PartnerCarts and its receipts' metadata, decoded as the informers decode them and trimmed
// as the manager's cache trims them (controller.TrimForCache), held in this process's heap.
// The informers' stores add their maps and indexes on top (about a hundred bytes an object).
func cacheFootprint(ctx context.Context, c client.Client, ns string) (cartBytes, receiptBytes float64, n int, err error) {
	measure := func(list client.ObjectList, opts []client.ListOption, items func() []client.Object) (float64, int, error) {
		before := liveHeap()
		if err := c.List(ctx, list, opts...); err != nil {
			return 0, 0, err
		}
		objs := items()
		for _, o := range objs {
			if _, err := controller.TrimForCache(o); err != nil {
				return 0, 0, err
			}
		}
		after := liveHeap()
		runtime.KeepAlive(list)
		if len(objs) == 0 {
			return 0, 0, nil
		}
		return float64(after-before) / float64(len(objs)), len(objs), nil
	}
	carts := &pcv1alpha1.PartnerCartList{}
	cartBytes, n, err = measure(carts, []client.ListOption{client.InNamespace(ns)}, func() []client.Object {
		out := make([]client.Object, 0, len(carts.Items))
		for i := range carts.Items {
			out = append(out, &carts.Items[i])
		}
		return out
	})
	if err != nil {
		return 0, 0, 0, err
	}
	receipts := &metav1.PartialObjectMetadataList{}
	receipts.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
	receiptBytes, _, err = measure(receipts, []client.ListOption{client.InNamespace(harness.ReceiptNamespace),
		client.MatchingLabels{harness.ReceiptCartNamespaceLabel: ns}}, func() []client.Object {
		out := make([]client.Object, 0, len(receipts.Items))
		for i := range receipts.Items {
			if receipts.Items[i].Labels[harness.ReceiptLabel] == "true" {
				out = append(out, &receipts.Items[i])
			}
		}
		return out
	})
	return cartBytes, receiptBytes, n, err
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func fmtBytes(b float64) string {
	if b >= 1024 {
		return fmt.Sprintf("%.1f KiB", b/1024)
	}
	return fmt.Sprintf("%.0f B", b)
}
