package controller

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// Separation-of-duties bypasses an adversarial review found by impersonation on the real API
// server (each failed before its fix): what docs/gitops.md ("Who may do what") promises, held.

// TestSelfApprovalThroughServiceAccountOfAnotherNamespace: "Approve a cart whose
// content one wrote last, or that a ServiceAccount ... one can act as ... wrote" needs
// approve-own. requesterIsApprover only looks at ServiceAccounts of the cart's own namespace:
// bob (approve, no approve-own) who can mint the tokens of a ServiceAccount in another
// namespace (his team's CI namespace) that may edit the cart's namespace writes the content as
// that ServiceAccount and approves it himself. One person, nobody else looked at it.
func TestSelfApprovalThroughServiceAccountOfAnotherNamespace(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	ciNS := newNamespace(t)
	g.Expect(e.admin.Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ciNS, Name: "builder"}})).To(Succeed())
	// The CI ServiceAccount edits carts in the tenant namespace (a pipeline that writes them).
	bindClusterRole(t, e.ns, "editor-role", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ciNS, Name: "builder"})
	// bob can mint its tokens, as edit in the CI namespace lets him.
	g.Expect(e.admin.Create(t.Context(), &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ciNS, Name: "mint-tokens"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}}},
	})).To(Succeed())
	g.Expect(e.admin.Create(t.Context(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ciNS, Name: "bob-mints-tokens"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "mint-tokens"},
		Subjects:   []rbacv1.Subject{user("bob")},
	})).To(Succeed())
	builderName := "system:serviceaccount:" + ciNS + ":builder"
	builder := as(t, builderName, "system:serviceaccounts", "system:serviceaccounts:"+ciNS)
	// bob, acting as the CI ServiceAccount, writes the cart: 40 seats.
	g.Eventually(func() error {
		return builder.Create(t.Context(), newCart(e.ns, "via-ci", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 40 }))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(e.get("via-ci").Spec.Approval.RequestedBy).To(Equal(builderName))

	err := e.patch(e.bob, "via-ci", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
	a := e.get("via-ci").Spec.Approval
	t.Logf("bob's approval: err=%v, approval=%+v", err, a)
	g.Expect(err).To(MatchError(ContainSubstring("self-approval needs the verb approve-own")),
		"bob wrote the content through a ServiceAccount he can act as; approving it is self-approval")
	g.Expect(a.Approved).To(BeFalse())
}

// TestNamespaceServiceAccountTakesNoDecisions: "Approve as a ServiceAccount of the
// cart's own namespace: nobody, every editor there can mint its tokens". The decision
// annotations repurchase-of and checkout-resolution are purchase decisions too (they need
// approve), but partnercart-approval applies the own-namespace rule to approvals only: a
// namespace ServiceAccount given approve (a release bot) sets them, so every editor of the
// namespace can, acting as it.
func TestNamespaceServiceAccountTakesNoDecisions(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	g.Expect(e.admin.Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "release"}})).To(Succeed())
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: e.ns, Name: "release"}
	bindClusterRole(t, e.ns, "approver", sa)
	release := as(t, "system:serviceaccount:"+e.ns+":release", "system:serviceaccounts", "system:serviceaccounts:"+e.ns)
	g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "decided-by-sa"))).To(Succeed())
	// The same ServiceAccount is refused an approval (once RBAC lets it patch at all)...
	g.Eventually(func() error {
		return e.patch(release, "decided-by-sa", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
	}).WithTimeout(10 * time.Second).Should(MatchError(ContainSubstring("acts for every editor there")))

	for _, key := range []string{pcv1alpha1.RepurchaseOfAnnotation, pcv1alpha1.CheckoutResolutionAnnotation} {
		err := e.patch(release, "decided-by-sa", func(c *pcv1alpha1.PartnerCart) {
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[key] = "earlier-receipt"
		})
		ann := e.get("decided-by-sa").Annotations
		t.Logf("%s: err=%v, by=%q", key, err, ann[key+pcv1alpha1.DecidedBySuffix])
		// ...but not the decision annotations.
		g.Expect(err).To(MatchError(ContainSubstring("acts for every editor there")),
			"%s set by a ServiceAccount of the cart's own namespace (stamped %q)", key, ann[key+pcv1alpha1.DecidedBySuffix])
	}
}

// TestGitOpsReapplyDoesNotApproveAnEditorsLines: "When carts come from Git, the approval is the
// reviewed, merged commit" and "a change of what an approved cart would buy ... withdraws the
// approval". lineItems is a map list keyed by id: a server-side apply (Flux always, Argo CD
// with ServerSideApply=true) merges by key and leaves alone a line another manager added. An
// editor adds a line to a cart approved from Git (withdrawn, requestedBy alice); the GitOps
// controller re-applies the same Git YAML: approved goes back to true, the content does not
// change in that request, so the requester stays alice and argo's "approve" suffices (no
// approve-own needed for someone else's content). The cart is approved, stamped by the GitOps
// account, with 500 seats nobody reviewed in Git.
func TestGitOpsReapplyDoesNotApproveAnEditorsLines(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	fromGit := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": pcv1alpha1.GroupVersion.String(), "kind": "PartnerCart",
			"metadata": map[string]any{"namespace": e.ns, "name": "git-cart"},
			"spec": map[string]any{
				"customerId":           testCustomer,
				"credentialsSecretRef": map[string]any{"name": "partner-center"},
				"lineItems": []any{map[string]any{
					"id": int64(0), "catalogItemId": testItemE5, "quantity": int64(25), "billingCycle": "monthly", "termDuration": "P1Y",
				}},
				"approval": map[string]any{"approved": true},
			},
		}}
		return u
	}
	apply := func(c client.Client) error {
		return c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(fromGit()), client.FieldOwner("argocd-controller"), client.ForceOwnership)
	}
	g.Expect(apply(e.argo)).To(Succeed())
	a := e.get("git-cart").Spec.Approval
	g.Expect(a.Approved).To(BeTrue())
	g.Expect(a.ApprovedBy).To(Equal(e.gitopsServiceAcct))

	// alice adds a line: `kubectl patch --type json -p '[{"op":"add","path":"/spec/lineItems/-",...}]'`.
	extra := `[{"op":"add","path":"/spec/lineItems/-","value":{"id":1,"catalogItemId":"` + testItemE5 + `","quantity":500,"billingCycle":"monthly","termDuration":"P1Y"}}]`
	g.Expect(e.alice.Patch(t.Context(), e.get("git-cart"), client.RawPatch(types.JSONPatchType, []byte(extra)))).To(Succeed())
	a = e.get("git-cart").Spec.Approval
	g.Expect(a.Approved).To(BeFalse(), "alice's line withdrew the approval")
	g.Expect(a.RequestedBy).To(Equal("alice"))

	// The GitOps controller sees spec.approval.approved drift from Git and re-applies Git's YAML:
	// the sync fails, saying why, instead of approving alice's line.
	g.Expect(apply(e.argo)).To(MatchError(ContainSubstring("whose content alice wrote")))
	cart := e.get("git-cart")
	g.Expect(cart.Spec.Approval.Approved).To(BeFalse())
	g.Expect(cart.Spec.LineItems).To(HaveLen(2))
}

// TestFutureDatedStampTypedInAGapIsNotBought: CheckedAfter promises that a stamp dated t is
// trusted only once "a check that found the policies in force started at or after t"; for a
// t in the future it runs a check now (which starts before t) and returns "" all the same.
// approvalDecision lets approvedAt run up to approvalClockSkew (2 minutes) ahead. So an editor
// who types an approval during a policy gap the periodic check did not see (a re-install, a
// helm upgrade that recreates a binding), dated a little after the policies will be back,
// gets it bought by the next reconcile (a label edit wakes the cart) with the manager up all
// along: docs/gitops.md says only a gap while the manager was down can do that.
func TestFutureDatedStampTypedInAGapIsNotBought(t *testing.T) {
	g := NewWithT(t)
	direct, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	var deleted atomic.Bool
	p := &AdmissionPolicies{Namespace: metav1.NamespaceDefault, Client: interceptor.NewClient(direct, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			if b, ok := list.(*admissionv1.ValidatingAdmissionPolicyBindingList); ok && deleted.Load() {
				b.Items = nil
			}
			return nil
		}})}
	g.Expect(p.checkAndRecord(t.Context())).To(BeEmpty(), "in force at the last periodic check")

	// The binding is deleted and re-created between two periodic checks. Meanwhile alice, who
	// may only edit, types an approval dated 90 seconds ahead: nothing refuses it.
	deleted.Store(true)
	typed := newCart("tenant", "typed-in-gap", withApproved(), func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.RequestedBy = "alice"
		c.Spec.Approval.ApprovedBy = "bob"
		c.Spec.Approval.ApprovedAt = time.Now().Add(90 * time.Second).UTC().Format(time.RFC3339)
	})
	typed.Status.SpecHash = SpecHash(&typed.Spec)
	deleted.Store(false)

	// A label edit after the policies are back wakes the cart (the validating policy lets it
	// through: the stamps are unchanged).
	r := &PartnerCartReconciler{Admission: p}
	reason, msg := r.approvalDecision(t.Context(), &scope{cart: typed, now: time.Now()})
	t.Logf("%s: %s", reason, msg)
	g.Expect(reason).NotTo(Equal(pcv1alpha1.ApprovedReason),
		"approvedAt %s is after every check that ran: no check shows the policies were in force when it was written", typed.Spec.Approval.ApprovedAt)
}

// TestFutureDatedDecisionTypedInAGapIsNotTaken: the same for the decision annotations, and
// worse: decision() has no bound on how far ahead -at may be. checkout-resolution (or
// repurchase-of) typed with -by bob and -at 2099 during any gap, noticed or not (nothing marks
// an annotation as seen untrusted), is taken once the policies are back.
func TestFutureDatedDecisionTypedInAGapIsNotTaken(t *testing.T) {
	g := NewWithT(t)
	p := admissionInForce(t)
	key := pcv1alpha1.CheckoutResolutionAnnotation
	typed := newCart("tenant", "typed-in-gap", func(c *pcv1alpha1.PartnerCart) {
		c.Annotations = map[string]string{key: "req-1/nothing-bought", key + pcv1alpha1.DecidedBySuffix: "bob", key + pcv1alpha1.DecidedAtSuffix: "2099-01-01T00:00:00Z"}
	})
	r := &PartnerCartReconciler{Admission: p}
	value, by, at := r.decision(t.Context(), typed, key)
	t.Logf("decision: %q by %q at %q", value, by, at)
	g.Expect(value).To(BeEmpty(), "a decision stamped in 2099 was not stamped by the API server now")
}

// TestAFutureManagedFieldsEntryDoesNotDateLaterApprovals: an editor adds a managedFields entry
// dated 2099 in an update that decides nothing; a later approval by an approver is still dated
// by its own request, not 2099 (which the operator would refuse, for every approval to come).
func TestAFutureManagedFieldsEntryDoesNotDateLaterApprovals(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "dated", func(c *pcv1alpha1.PartnerCart) { c.Labels = map[string]string{"x": "y"} }))).To(Succeed())
	cart := e.get("dated")
	cart.Labels["z"] = "w"
	cart.ManagedFields = append(cart.ManagedFields, metav1.ManagedFieldsEntry{
		Manager: "squatter", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: pcv1alpha1.GroupVersion.String(),
		Time: &metav1.Time{Time: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}, FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:x":{}}}}`),
	})
	g.Expect(e.alice.Update(t.Context(), cart)).To(Succeed())
	g.Expect(e.get("dated").ManagedFields).To(ContainElement(HaveField("Manager", "squatter")), "the entry is stored")

	start := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	g.Expect(e.patch(e.bob, "dated", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })).To(Succeed())
	at, err := time.Parse(time.RFC3339, e.get("dated").Spec.Approval.ApprovedAt)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(at).To(BeTemporally(">=", start))
	g.Expect(at).To(BeTemporally("<", time.Now().Add(time.Minute)), "dated by bob's request, not by the squatter's entry")
}
