package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// lastAppliedAnnotation is where `kubectl apply` (and GitOps tools in client-side apply mode)
// keep a full copy of the object as last applied.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache drops from every cached object what the reconcilers never read: managedFields
// (a third of a PartnerCart) and the last-applied-configuration annotation (a second copy of
// the spec on GitOps-applied objects, and of the data on a Secret applied with kubectl).
//
// Dropping is safe because nothing is written back from a cached object wholesale: every
// write is a merge patch of the difference between the object as read and as changed (status
// through the status subresource, finalizers as a metadata patch), and a merge patch leaves
// map keys it does not name untouched. A full Update of a cached object would wipe what was
// dropped; the reconcilers make none (TestCacheTrimKeepsDroppedFields).
func TrimForCache(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil //nolint:nilerr // not an object (a tombstone): cache it as it is
	}
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	if a := obj.GetAnnotations(); a != nil {
		if _, ok := a[lastAppliedAnnotation]; ok {
			delete(a, lastAppliedAnnotation)
			if len(a) == 0 {
				obj.SetAnnotations(nil)
			}
		}
	}
	return in, nil
}
