package controller

import (
	"strings"
	"unique"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// lastAppliedAnnotation is where `kubectl apply` (and GitOps tools in client-side apply mode)
// keep a full copy of the object as last applied.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache makes every cached object smaller (the cache of PartnerCarts is most of the
// manager's memory):
//   - it drops what the reconcilers never read: managedFields (a third of a PartnerCart), the
//     last-applied-configuration annotation (a second copy of the spec on GitOps-applied
//     objects, and of the data on a Secret applied with kubectl), and the order labels of a
//     receipt's cached metadata (one per order; the guard asks the API server about them);
//   - it shares equal strings instead of holding a copy per object: label keys, and in a
//     PartnerCart the values drawn from small sets (condition types, statuses and reasons,
//     phase, customer, catalog items, billing cycles, terms, currencies, order statuses,
//     requesters and approvers), and the spec hash, cart ID, order IDs and line names that
//     status repeats. Values do not change, only where their bytes live.
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
	_, metadataOnly := in.(*metav1.PartialObjectMetadata)
	receipt := metadataOnly && obj.GetLabels()[pcv1alpha1.ReceiptLabel] == "true"
	if l := obj.GetLabels(); len(l) > 0 {
		shared := make(map[string]string, len(l))
		for k, v := range l {
			if receipt && strings.HasPrefix(k, orderLabelPrefix) {
				// A receipt's order labels are looked up on the API server (the guard's
				// "was this order recorded" question must not depend on the cache).
				continue
			}
			if v == "true" {
				v = "true"
			}
			shared[intern(k)] = v
		}
		obj.SetLabels(shared)
	}
	if cart, ok := in.(*pcv1alpha1.PartnerCart); ok {
		shareCartStrings(cart)
	}
	return in, nil
}

// intern returns the canonical copy of s.
func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

func internAs[T ~string](s *T) { *s = T(intern(string(*s))) }

// shareCartStrings replaces a PartnerCart's strings drawn from small sets by canonical copies,
// and status' repeats of the spec hash and cart ID by the first copy.
func shareCartStrings(c *pcv1alpha1.PartnerCart) {
	internAs(&c.Namespace)
	for i := range c.Finalizers {
		internAs(&c.Finalizers[i])
	}
	internAs(&c.Spec.CustomerID)
	if ref := c.Spec.CredentialsSecretRef; ref != nil {
		internAs(&ref.Name)
	}
	if ref := c.Spec.AccountRef; ref != nil {
		internAs(&ref.Name)
	}
	// Requesters and approvers are a team's few people and service accounts.
	internAs(&c.Spec.Approval.RequestedBy)
	internAs(&c.Spec.Approval.ApprovedBy)
	for i := range c.Spec.LineItems {
		l := &c.Spec.LineItems[i].LineItemFields
		internAs(&l.CatalogItemID)
		internAs(&l.BillingCycle)
		internAs(&l.TermDuration)
	}
	st := &c.Status
	internAs(&st.Phase)
	for i := range st.Conditions {
		cond := &st.Conditions[i]
		internAs(&cond.Type)
		internAs(&cond.Status)
		internAs(&cond.Reason)
	}
	if cs := st.Cart; cs != nil {
		internAs(&cs.Status)
		internAs(&cs.CurrencyCode)
		internAs(&cs.LastModifiedUser)
		if cs.SyncedSpecHash == st.SpecHash {
			cs.SyncedSpecHash = st.SpecHash
		}
	}
	if co := st.Checkout; co != nil {
		internAs(&co.CustomerID)
		internAs(&co.Account)
		internAs(&co.Outcome)
		internAs(&co.RequestedBy)
		internAs(&co.ApprovedBy)
		if co.SpecHash == st.SpecHash {
			co.SpecHash = st.SpecHash
		}
		if st.Cart != nil && co.CartID == st.Cart.ID {
			co.CartID = st.Cart.ID
		}
	}
	for i := range st.Orders {
		o := &st.Orders[i]
		internAs(&o.Status)
		internAs(&o.CurrencyCode)
		internAs(&o.BillingCycle)
		internAs(&o.TransactionType)
		if o.AlternateID == o.ID {
			o.AlternateID = o.ID
		}
		for j := range o.LineItems {
			ol := &o.LineItems[j]
			internAs(&ol.OfferID)
			internAs(&ol.TermDuration)
			internAs(&ol.TransactionType)
			for k := range c.Spec.LineItems { // the orders repeat the spec's line names
				if name := c.Spec.LineItems[k].FriendlyName; name == ol.FriendlyName {
					ol.FriendlyName = name
					break
				}
			}
		}
	}
}
