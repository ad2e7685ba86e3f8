package controller

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// installRBAC applies the RBAC objects of the default kustomize install (config/default) to the
// test API server, with the operator's namespace (partnercart-system) replaced by a fresh one
// and the cluster-scoped objects' names made unique to it. It returns that namespace and a
// client config that acts as the manager's service account.
func installRBAC(t *testing.T) (string, *rest.Config) {
	t.Helper()
	g := NewWithT(t)
	ns := newNamespace(t)
	const installNS = "partnercart-system"
	sa := ""
	for _, u := range installObjects(t, "default") {
		switch u.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
		default:
			continue
		}
		if u.GetNamespace() == installNS {
			u.SetNamespace(ns)
		}
		if u.GetNamespace() == "" {
			u.SetName(u.GetName() + "-" + ns)
		}
		if u.GetKind() == "ServiceAccount" {
			sa = u.GetName()
		}
		if strings.HasSuffix(u.GetKind(), "Binding") {
			if kind, _, _ := unstructured.NestedString(u.Object, "roleRef", "kind"); kind == "ClusterRole" {
				name, _, _ := unstructured.NestedString(u.Object, "roleRef", "name")
				g.Expect(unstructured.SetNestedField(u.Object, name+"-"+ns, "roleRef", "name")).To(Succeed())
			}
			subjects, _, _ := unstructured.NestedSlice(u.Object, "subjects")
			for _, s := range subjects {
				if m := s.(map[string]any); m["namespace"] == installNS {
					m["namespace"] = ns
				}
			}
			g.Expect(unstructured.SetNestedSlice(u.Object, subjects, "subjects")).To(Succeed())
		}
		g.Expect(env.Client.Create(t.Context(), u)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
	}
	g.Expect(sa).NotTo(BeEmpty())
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:" + ns}}
	return ns, cfg
}

// builtinEdit returns the name of a ClusterRole with the rules of the built-in edit role: the
// test API server has edit, but no controller-manager to aggregate the rules of the
// aggregate-to-edit roles into it, so they are gathered here as that controller would.
func builtinEdit(t *testing.T, suffix string) string {
	t.Helper()
	g := NewWithT(t)
	var parts rbacv1.ClusterRoleList
	g.Expect(env.Client.List(t.Context(), &parts, client.MatchingLabels{"rbac.authorization.k8s.io/aggregate-to-edit": "true"})).To(Succeed())
	g.Expect(parts.Items).NotTo(BeEmpty())
	edit := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "edit-" + suffix}}
	for _, p := range parts.Items {
		edit.Rules = append(edit.Rules, p.Rules...)
	}
	g.Expect(env.Client.Create(t.Context(), edit)).To(Succeed())
	return edit.Name
}

// TestInstalledRBACKeepsReceiptsFromTenants runs the manager as its service account with exactly
// the permissions the default install grants, next to a tenant with the built-in edit role in
// its namespace, on a real API server:
//   - the manager buys, and its receipt is in its own namespace;
//   - it can no longer list (or watch) ConfigMaps or Secrets in a tenant namespace, nor read
//     a tenant's ConfigMaps; it can only get the Secret a cart names;
//   - the tenant can neither read, delete, change nor forge a receipt;
//   - a ConfigMap the tenant forges in its own namespace, labelled with the order like a
//     receipt of a live cart, changes nothing: the re-applied cart, whose receipt an
//     administrator deleted, still stops on the identical recent order.
func TestInstalledRBACKeepsReceiptsFromTenants(t *testing.T) {
	g := NewWithT(t)
	managerNS, asManager := installRBAC(t)
	o := startOperator(t, operatorOptions{as: asManager, receiptNS: managerNS,
		reconciler: Options{CredentialsNamespace: managerNS, ReceiptNamespace: managerNS}})
	bindClusterRole(t, o.ns, builtinEdit(t, o.ns), user("alice"))
	alice := as(t, "alice")
	mgr, err := client.NewWithWatch(asManager, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	// The admission policy check works with the install's RBAC: it lists the policies and
	// dry-runs its probes in its own namespace, and nowhere else.
	gate := &AdmissionPolicies{Client: mgr, Namespace: managerNS}
	g.Expect(gate.Check(t.Context())).To(BeEmpty())
	g.Expect(mgr.Create(t.Context(), probeCart(o.ns), client.DryRunAll)).To(Satisfy(apierrors.IsForbidden), "no probe in a tenant namespace")

	o.create("seats", withApproved())
	o.eventually("seats", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	bought := o.get("seats")
	orderID := bought.Status.Orders[0].ID
	receipt := o.receipt(bought.Status.ReceiptName)
	g.Expect(receipt.Labels).To(HaveKeyWithValue(pcv1alpha1.ReceiptCartNamespaceLabel, o.ns))
	g.Expect(receiptsIn(t, o.ns)).To(BeEmpty(), "nothing in the tenant's namespace")

	// The manager: ConfigMaps only in its namespace, Secrets of tenants only by name.
	forbidden := func(err error) bool { return apierrors.IsForbidden(err) }
	g.Expect(mgr.List(t.Context(), &corev1.ConfigMapList{}, client.InNamespace(managerNS))).To(Succeed())
	g.Expect(mgr.List(t.Context(), &corev1.ConfigMapList{}, client.InNamespace(o.ns))).To(Satisfy(forbidden))
	g.Expect(mgr.List(t.Context(), &corev1.ConfigMapList{})).To(Satisfy(forbidden), "no cluster-wide ConfigMap list")
	g.Expect(mgr.Get(t.Context(), client.ObjectKey{Namespace: o.ns, Name: "kube-root-ca.crt"}, &corev1.ConfigMap{})).To(Satisfy(forbidden))
	g.Expect(mgr.List(t.Context(), &corev1.SecretList{}, client.InNamespace(o.ns))).To(Satisfy(forbidden))
	g.Expect(mgr.List(t.Context(), &corev1.SecretList{})).To(Satisfy(forbidden), "no cluster-wide Secret list")
	_, err = mgr.Watch(t.Context(), &corev1.SecretList{}, client.InNamespace(o.ns))
	g.Expect(err).To(Satisfy(forbidden), "no Secret watch in a tenant namespace")
	g.Expect(mgr.Get(t.Context(), client.ObjectKey{Namespace: o.ns, Name: "partner-center"}, &corev1.Secret{})).To(Succeed(),
		"the one Secret a cart names, by get")
	g.Expect(mgr.Delete(t.Context(), receipt.DeepCopy())).To(Satisfy(forbidden), "not even the manager deletes a receipt")

	// The tenant: nothing in the manager's namespace.
	g.Expect(alice.Get(t.Context(), client.ObjectKeyFromObject(receipt), &corev1.ConfigMap{})).To(Satisfy(forbidden))
	g.Expect(alice.List(t.Context(), &corev1.ConfigMapList{}, client.InNamespace(managerNS))).To(Satisfy(forbidden))
	g.Expect(alice.Delete(t.Context(), receipt.DeepCopy())).To(Satisfy(forbidden))
	forgedHere := receipt.DeepCopy()
	forgedHere.ObjectMeta = metav1.ObjectMeta{Namespace: managerNS, Name: o.ns + ".other-receipt-00000000", Labels: receipt.Labels}
	g.Expect(alice.Create(t.Context(), forgedHere)).To(Satisfy(forbidden))
	g.Expect(o.receipt(receipt.Name).Data).To(Equal(receipt.Data), "the receipt is as the manager wrote it")

	// She can write ConfigMaps in her own namespace: one that claims the order for a live cart.
	decoy := o.create("decoy")
	key, ok := orderLabelKey(orderID)
	g.Expect(ok).To(BeTrue())
	forged := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: receipt.Name, Labels: map[string]string{
		pcv1alpha1.ReceiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: o.ns, pcv1alpha1.ReceiptCartLabel: decoy.Name, pcv1alpha1.ReceiptCartUIDLabel: string(decoy.UID), key: "true"}},
		Data: receipt.Data}
	// (Eventually: the authorizer learns of her new RoleBinding through a watch.)
	g.Eventually(func() error { return alice.Create(t.Context(), forged) }).Should(Succeed())

	// The cart is pruned and re-applied; an administrator deleted its receipt meanwhile (a
	// restore without it, say), so only the customer's recent orders show the purchase.
	o.deleteAndWait("seats")
	g.Expect(env.Client.Delete(t.Context(), o.receipt(receipt.Name))).To(Succeed())
	o.create("seats", withApproved())
	o.eventually("seats", 30*time.Second).Should(
		haveCondition(pcv1alpha1.StalledCondition, metav1.ConditionTrue, pcv1alpha1.IdenticalRecentPurchaseReason))
	g.Expect(conditionMessage(o.get("seats"), pcv1alpha1.StalledCondition)).To(ContainSubstring(orderID))
	g.Expect(o.sim.Orders()).To(HaveLen(1), "bought once")
	g.Expect(o.requests("Checkout")).To(Equal(1))
}
