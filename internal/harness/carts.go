package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// Catalog items of pcsim's default catalog used by the harness.
const (
	ItemE5           = "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H" // Microsoft 365 E5
	ItemBasic        = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS" // Microsoft 365 Business Basic
	ItemOrderError   = "CFQ7TTC0LF8S:0001:CFQ7TTC0TEST" // orders end in "error"
	ItemCheckoutFail = "CFQ7TTC0LF8S:0001:CFQ7TTC0FAIL" // its order group fails at checkout
)

// SecretName is the credentials Secret the harness creates in each namespace.
const SecretName = "partner-center"

// ReceiptLabel marks receipt ConfigMaps; ReceiptCartNamespaceLabel names the namespace of the
// cart a receipt records.
const (
	ReceiptLabel              = "partnercenter.partnercart.dev/receipt"
	ReceiptCartNamespaceLabel = "partnercenter.partnercart.dev/cart-namespace"
)

// ReceiptNamespace is the managers' own namespace in the harness's stacks (their
// --receipt-namespace), where they keep receipts, as partnercart-system is in a real install.
const ReceiptNamespace = "partnercart-system"

// CreateNamespaces creates the namespaces, each with the credentials Secret, and the managers'
// receipt namespace.
func CreateNamespaces(ctx context.Context, c client.Client, names ...string) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ReceiptNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ReceiptNamespace, err)
	}
	for _, ns := range names {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: SecretName},
			StringData: map[string]string{"tenantId": TenantID, "clientId": ClientID, "clientSecret": ClientSecret},
		}
		if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create secret in %s: %w", ns, err)
		}
	}
	return nil
}

// Line is a line item for NewCart.
type Line struct {
	Item         string
	Quantity     int32
	BillingCycle pcv1alpha1.BillingCycle
}

// NewCart builds an approved PartnerCart with the given lines (an E5 monthly line if none).
func NewCart(ns, name string, lines ...Line) *pcv1alpha1.PartnerCart {
	if len(lines) == 0 {
		lines = []Line{{Item: ItemE5, Quantity: 25, BillingCycle: pcv1alpha1.BillingCycleMonthly}}
	}
	c := &pcv1alpha1.PartnerCart{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: pcv1alpha1.PartnerCartSpec{
			CustomerID:           CustomerID,
			CredentialsSecretRef: &pcv1alpha1.SecretReference{Name: SecretName},
			Approval:             pcv1alpha1.Approval{Approved: true},
		},
	}
	for i, l := range lines {
		c.Spec.LineItems = append(c.Spec.LineItems, pcv1alpha1.CartLineItem{LineItemFields: pcv1alpha1.LineItemFields{
			ID: int32(i), CatalogItemID: l.Item, Quantity: l.Quantity, BillingCycle: l.BillingCycle,
			TermDuration: "P1Y", FriendlyName: fmt.Sprintf("%s line %d", name, i),
		}})
	}
	return c
}

// CreateAll creates the carts with `workers` concurrent creators, retrying each create until
// it succeeds or ctx ends (the API server may be restarting), and calls created, if set, for
// each one as soon as it exists. It returns when all exist.
func CreateAll(ctx context.Context, c client.Client, carts []*pcv1alpha1.PartnerCart, workers int, created func(*pcv1alpha1.PartnerCart)) error {
	work := make(chan *pcv1alpha1.PartnerCart)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cart := range work {
				if err := CreateWithRetry(ctx, c, cart); err != nil {
					errs <- err
					return
				}
				if created != nil {
					created(cart)
				}
			}
		}()
	}
	var err error
loop:
	for _, cart := range carts {
		select {
		case work <- cart:
		case err = <-errs:
			break loop
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// CreateWithRetry creates obj, retrying while the API server is unavailable. An object that
// already exists (a retried create that did land) counts as created.
func CreateWithRetry(ctx context.Context, c client.Client, obj client.Object) error {
	for {
		err := c.Create(ctx, obj)
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) {
			return fmt.Errorf("create %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create %s/%s: %w (last error: %w)", obj.GetNamespace(), obj.GetName(), ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Outcome is where a cart stands.
type Outcome int

const (
	// InFlight is a cart neither completed nor stalled.
	InFlight Outcome = iota
	// Completed is a cart in phase Completed with Ready=True.
	Completed
	// Stalled is a cart with Stalled=True and a message that explains it (a terminal failure).
	Stalled
	// AwaitingApproval is a cart whose approval was taken back before any checkout: phase
	// AwaitingApproval for its current generation, spec.approval.approved false, no checkout.
	// A cart the harness approved never ends here.
	AwaitingApproval
)

func (o Outcome) String() string {
	switch o {
	case Completed:
		return "Completed"
	case Stalled:
		return "Stalled"
	case AwaitingApproval:
		return "AwaitingApproval"
	}
	return "InFlight"
}

// OutcomeOf classifies a cart.
func OutcomeOf(c *pcv1alpha1.PartnerCart) Outcome {
	if c.Status.Phase == pcv1alpha1.PhaseCompleted && meta.IsStatusConditionTrue(c.Status.Conditions, pcv1alpha1.ReadyCondition) {
		return Completed
	}
	if cond := meta.FindStatusCondition(c.Status.Conditions, pcv1alpha1.StalledCondition); cond != nil &&
		cond.Status == metav1.ConditionTrue && strings.TrimSpace(cond.Message) != "" {
		return Stalled
	}
	if c.Status.Phase == pcv1alpha1.PhaseAwaitingApproval && !c.Spec.Approval.Approved && c.Status.Checkout == nil &&
		c.Status.ObservedGeneration == c.Generation {
		return AwaitingApproval
	}
	return InFlight
}

// StalledReason is the reason of a cart's Stalled=True condition, or "".
func StalledReason(c *pcv1alpha1.PartnerCart) string {
	if cond := meta.FindStatusCondition(c.Status.Conditions, pcv1alpha1.StalledCondition); cond != nil && cond.Status == metav1.ConditionTrue {
		return cond.Reason
	}
	return ""
}

// Describe is a one-line summary of a cart for failure reports.
func Describe(c *pcv1alpha1.PartnerCart) string {
	var conds []string
	for _, cond := range c.Status.Conditions {
		if cond.Type == pcv1alpha1.ReadyCondition || cond.Type == pcv1alpha1.StalledCondition || cond.Type == pcv1alpha1.ReconcilingCondition {
			conds = append(conds, fmt.Sprintf("%s=%s/%s %q", cond.Type, cond.Status, cond.Reason, cond.Message))
		}
	}
	checkout := ""
	if co := c.Status.Checkout; co != nil {
		checkout = fmt.Sprintf(" checkoutCart=%s outcome=%s intent=%d attempts=%d owner=%q", co.CartID, co.Outcome, co.Intent, co.Attempts, co.Owner)
	}
	if n := len(c.Status.CheckoutHistory); n > 0 {
		checkout += fmt.Sprintf(" history=%d", n)
	}
	return fmt.Sprintf("%s/%s uid=%s gen=%d approved=%t phase=%q orders=%d%s %s", c.Namespace, c.Name, c.UID, c.Generation, c.Spec.Approval.Approved,
		c.Status.Phase, len(c.Status.Orders), checkout, strings.Join(conds, " "))
}

// ListCarts lists every PartnerCart in the namespaces.
func ListCarts(ctx context.Context, c client.Client, namespaces []string) ([]pcv1alpha1.PartnerCart, error) {
	var all []pcv1alpha1.PartnerCart
	for _, ns := range namespaces {
		list := &pcv1alpha1.PartnerCartList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		all = append(all, list.Items...)
	}
	return all, nil
}

// ListReceipts lists the receipts of the carts of the namespaces: ConfigMaps in the receipt
// namespace (the only place the operator keeps and reads them).
func ListReceipts(ctx context.Context, c client.Client, namespaces []string) ([]corev1.ConfigMap, error) {
	var all []corev1.ConfigMap
	for _, ns := range namespaces {
		list := &corev1.ConfigMapList{}
		if err := c.List(ctx, list, client.InNamespace(ReceiptNamespace),
			client.MatchingLabels{ReceiptLabel: "true", ReceiptCartNamespaceLabel: ns}); err != nil {
			return nil, err
		}
		all = append(all, list.Items...)
	}
	return all, nil
}

// RevokeApproval sets spec.approval.approved to false on namespace/name with a merge patch,
// retrying while the API server is unavailable or the cart does not exist yet. It returns
// the object as the API server stored it at the revoke (its resourceVersion, and the status
// at that moment) and the time the API server's answer arrived: the revoke took effect no
// later than that.
func RevokeApproval(ctx context.Context, c client.Client, namespace, name string) (*pcv1alpha1.PartnerCart, time.Time, error) {
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"approval":{"approved":false}}}`))
	for {
		cart := &pcv1alpha1.PartnerCart{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		err := c.Patch(ctx, cart, patch)
		if err == nil {
			return cart, time.Now(), nil
		}
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) {
			return nil, time.Time{}, fmt.Errorf("revoke approval of %s/%s: %w", namespace, name, err)
		}
		select {
		case <-ctx.Done():
			return nil, time.Time{}, fmt.Errorf("revoke approval of %s/%s: %w (last error: %w)", namespace, name, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// DeleteAndWait deletes the object with this UID, as a GitOps prune would, and waits until
// it is gone (its finalizer removed by the manager), retrying while the API server is
// unavailable. It returns the object's last state seen before it went.
func DeleteAndWait(ctx context.Context, c client.Client, cart *pcv1alpha1.PartnerCart) (*pcv1alpha1.PartnerCart, error) {
	last := cart.DeepCopy()
	key := client.ObjectKeyFromObject(cart)
	deleted := false
	for {
		if !deleted {
			err := c.Delete(ctx, last.DeepCopy(), client.Preconditions{UID: &cart.UID})
			deleted = err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err)
		}
		got := &pcv1alpha1.PartnerCart{}
		err := c.Get(ctx, key, got)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && got.UID != cart.UID):
			return last, nil
		case err == nil:
			last = got
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("delete %s/%s: %w (last seen: %s)", cart.Namespace, cart.Name, ctx.Err(), Describe(last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Reapply creates namespace/name again with spec, as a GitOps re-sync of an unchanged
// manifest does after a prune: same name and spec, new UID, empty status.
func Reapply(ctx context.Context, c client.Client, namespace, name string, spec *pcv1alpha1.PartnerCartSpec) (*pcv1alpha1.PartnerCart, error) {
	cart := &pcv1alpha1.PartnerCart{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: *spec.DeepCopy()}
	if err := CreateWithRetry(ctx, c, cart); err != nil {
		return nil, err
	}
	if cart.UID == "" { // the create landed but its answer was lost
		if err := c.Get(ctx, client.ObjectKeyFromObject(cart), cart); err != nil {
			return nil, err
		}
	}
	return cart, nil
}
