package controller

// The API server of the checkout simulation (simulation_test.go): controller-runtime's fake
// client, and the same client wrapped with interceptors that inject, per call and drawn from
// the seed, what a real API server and a manager's cache do to a controller: conflicts, lost
// writes (applied, then an error), failed receipt creates, and stale reads of the PartnerCart
// from the cache. The world and the managers' APIReader use the fake itself: APIReader is the
// live API server in production too.

import (
	"context"
	"errors"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

func (w *simWorld) newAPIServer() (api, managers client.Client) {
	api = withCacheIndexes(fake.NewClientBuilder().WithScheme(testenv.NewScheme())).
		WithStatusSubresource(&pcv1alpha1.PartnerCart{}).Build()
	managers = interceptor.NewClient(api.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if cart, ok := obj.(*pcv1alpha1.PartnerCart); ok && w.faultsOn && w.chance(w.prof.stale) {
				if old := w.staleSnapshot(key.Name, cart); old != nil {
					w.tracef("  api: stale read of %s (resourceVersion %s instead of %s)", key.Name, old.ResourceVersion, cart.ResourceVersion)
					if old.Generation != cart.Generation || !old.DeletionTimestamp.Equal(cart.DeletionTimestamp) ||
						!maps.Equal(old.Annotations, cart.Annotations) {
						// The cache catches up later with a change the watch predicates pass
						// (generation, deletion, annotations): that event wakes the object again.
						if n := w.names[key.Name]; n != nil {
							n.catchUp = true
						}
					}
					*cart = *old.DeepCopy()
				}
			}
			return nil
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*corev1.ConfigMap); ok {
				if w.faultsOn && w.chance(w.prof.createFail) {
					w.tracef("  api: create of ConfigMap %s fails", obj.GetName())
					return apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
				}
				return w.write("create ConfigMap "+obj.GetName(), func() error { return c.Create(ctx, obj, opts...) })
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return w.write("update "+obj.GetName(), func() error { return c.Update(ctx, obj, opts...) })
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return w.write("patch "+obj.GetName(), func() error { return c.Patch(ctx, obj, patch, opts...) })
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			return w.write("status update "+obj.GetName(), func() error { return c.SubResource(sub).Update(ctx, obj, opts...) })
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			return w.write("status patch "+obj.GetName(), func() error { return c.SubResource(sub).Patch(ctx, obj, patch, opts...) })
		},
	})
	return api, managers
}

// write applies a manager's write, or answers Conflict without applying it, or applies it and
// answers an error anyway (the answer was lost: a timeout after etcd committed).
func (w *simWorld) write(what string, apply func() error) error {
	if !w.faultsOn {
		return apply()
	}
	switch {
	case w.chance(w.prof.conflict):
		w.tracef("  api: %s -> Conflict (not applied)", what)
		return apierrors.NewConflict(pcv1alpha1.GroupVersion.WithResource("partnercarts").GroupResource(), what, errors.New("the object has been modified"))
	case w.chance(w.prof.lostWrite):
		if err := apply(); err != nil {
			return err
		}
		w.tracef("  api: %s applied, answer lost (timeout)", what)
		return apierrors.NewTimeoutError("request timed out after the write was committed", 1)
	}
	return apply()
}

// staleSnapshot returns an older version of the same object (same UID) that the cache could
// still show, or nil.
func (w *simWorld) staleSnapshot(name string, fresh *pcv1alpha1.PartnerCart) *pcv1alpha1.PartnerCart {
	var older []*pcv1alpha1.PartnerCart
	for _, s := range w.snapshots[name] {
		if s.UID == fresh.UID && s.ResourceVersion != fresh.ResourceVersion {
			older = append(older, s)
		}
	}
	if len(older) == 0 {
		return nil
	}
	return older[w.rng.IntN(len(older))]
}

// pcCall counts upstream calls (for I5's hot-loop check).
func (w *simWorld) pcCall(string) { w.pcCalls++ }
