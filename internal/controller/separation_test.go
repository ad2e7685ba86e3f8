package controller

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// sodEnv is a tenant namespace with the people of a separation-of-duties check: alice edits,
// bob and carol edit and approve, an Argo CD controller outside the namespace creates and
// approves from Git.
type sodEnv struct {
	ns                string
	alice, bob, argo  client.Client
	admin             client.Client
	gitopsServiceAcct string
	t                 *testing.T
	g                 *WithT
}

func newSoDEnv(t *testing.T) *sodEnv {
	t.Helper()
	g := NewWithT(t)
	applyUserRoles(t)
	ns := newNamespace(t)
	const gitops = "system:serviceaccount:argocd:argocd-application-controller"
	// bob may mint the tokens of the namespace's ServiceAccounts, as the built-in edit role
	// lets a tenant's people do (envtest runs no controller-manager to aggregate edit's rules).
	g.Expect(env.Client.Create(t.Context(), &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mint-tokens"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}}},
	})).To(Succeed())
	g.Expect(env.Client.Create(t.Context(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob-mints-tokens"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "mint-tokens"},
		Subjects:   []rbacv1.Subject{user("bob")},
	})).To(Succeed())
	bindClusterRole(t, ns, "editor-role", user("alice"))
	bindClusterRole(t, ns, "editor-role", user("bob"))
	bindClusterRole(t, ns, "approver", user("bob"))
	argoSA := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "argocd", Name: "argocd-application-controller"}
	bindClusterRole(t, ns, "editor-role", argoSA)
	bindClusterRole(t, ns, "self-approver", argoSA)
	e := &sodEnv{ns: ns, t: t, g: g, admin: env.Client, gitopsServiceAcct: gitops,
		alice: as(t, "alice"), bob: as(t, "bob"),
		argo: as(t, gitops, "system:serviceaccounts", "system:serviceaccounts:argocd")}
	// RBAC may take a moment to reach the authorizer's cache: wait for the last binding.
	g.Eventually(func() error {
		return e.argo.Create(t.Context(), newCart(ns, "rbac-probe", withApproved()), client.DryRunAll)
	}).WithTimeout(10 * time.Second).Should(Succeed())
	return e
}

func (e *sodEnv) get(name string) *pcv1alpha1.PartnerCart {
	e.t.Helper()
	c := &pcv1alpha1.PartnerCart{}
	e.g.Expect(e.admin.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, c)).To(Succeed())
	return c
}

// patch applies change to the cart as c does with `kubectl patch --type merge`.
func (e *sodEnv) patch(c client.Client, name string, change func(*pcv1alpha1.PartnerCart)) error {
	cart := e.get(name)
	p := client.MergeFrom(cart.DeepCopy())
	change(cart)
	return c.Patch(e.t.Context(), cart, p)
}

// approvedBy creates a cart as requester and has approver approve it (unpinned, as the
// README's first example does).
func (e *sodEnv) approvedBy(name string, requester, approver client.Client) {
	e.t.Helper()
	e.g.Expect(requester.Create(e.t.Context(), newCart(e.ns, name))).To(Succeed())
	e.g.Expect(e.patch(approver, name, func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })).To(Succeed())
	e.g.Expect(e.get(name).Spec.Approval.Approved).To(BeTrue())
}

// TestApprovalCoversWhatIsBought: an approval is of the purchase content. A change of what an
// approved cart would buy (lines, customer, account, attestation) by someone who may not
// approve it withdraws the approval at admission, recorded; by a GitOps controller that may
// approve its own carts, it re-approves and re-stamps. On 7803f87 an editor's JSON patch of the
// quantity (1 to 40) kept the approval and 40 seats were bought in the approver's name.
func TestApprovalCoversWhatIsBought(t *testing.T) {
	e := newSoDEnv(t)
	for _, tc := range []struct {
		name   string
		change func(*pcv1alpha1.PartnerCart)
	}{
		{"quantity", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 40 }},
		{"customer", func(c *pcv1alpha1.PartnerCart) { c.Spec.CustomerID = "0a0b0c0d-0000-4000-8000-000000000001" }},
		{"account", func(c *pcv1alpha1.PartnerCart) {
			c.Spec.CredentialsSecretRef = nil
			c.Spec.AccountRef = &pcv1alpha1.AccountReference{Name: "other-partner"}
		}},
		{"attestation", func(c *pcv1alpha1.PartnerCart) { c.Spec.PartnerOnRecordAttestationAccepted = new(true) }},
		{"a line added", func(c *pcv1alpha1.PartnerCart) {
			l := c.Spec.LineItems[0]
			l.ID, l.Quantity = 1, 3
			c.Spec.LineItems = append(c.Spec.LineItems, l)
		}},
	} {
		t.Run("an editor's change of the "+tc.name+" withdraws the approval", func(t *testing.T) {
			g := NewWithT(t)
			name := "edit-" + strings.ReplaceAll(tc.name, " ", "-")
			e.approvedBy(name, e.alice, e.bob)
			g.Expect(e.patch(e.alice, name, tc.change)).To(Succeed())
			a := e.get(name).Spec.Approval
			g.Expect(a.Approved).To(BeFalse(), "the approval was of other content")
			g.Expect(a.ApprovedBy).To(Equal("alice"), "who withdrew it is recorded")
			g.Expect(a.RequestedBy).To(Equal("alice"), "the requester is who last changed the content")
		})
	}

	t.Run("an approver who rewrites an approved cart withdraws its approval", func(t *testing.T) {
		g := NewWithT(t)
		e.approvedBy("rewritten", e.alice, e.bob)
		g.Expect(e.patch(e.bob, "rewritten", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 40 })).To(Succeed())
		a := e.get("rewritten").Spec.Approval
		g.Expect(a.Approved).To(BeFalse())
		g.Expect(a.RequestedBy).To(Equal("bob"))
		g.Expect(e.patch(e.bob, "rewritten", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })).
			To(MatchError(ContainSubstring("whose content they wrote last")), "and cannot approve their own rewrite")
	})

	t.Run("an approver cannot rewrite and approve in one patch", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "one-patch"))).To(Succeed())
		err := e.patch(e.bob, "one-patch", func(c *pcv1alpha1.PartnerCart) {
			c.Spec.LineItems[0].Quantity = 40
			c.Spec.Approval.Approved = true
		})
		g.Expect(err).To(MatchError(ContainSubstring("self-approval needs the verb approve-own")))
		g.Expect(e.get("one-patch").Spec.LineItems[0].Quantity).To(Equal(int32(25)))
	})

	t.Run("a change of what is not bought keeps the approval", func(t *testing.T) {
		g := NewWithT(t)
		e.approvedBy("relabelled", e.alice, e.bob)
		g.Expect(e.patch(e.alice, "relabelled", func(c *pcv1alpha1.PartnerCart) {
			c.Labels = map[string]string{"team": "finance"}
			c.Spec.DeletionPolicy = pcv1alpha1.DeletionPolicyOrphan
		})).To(Succeed())
		a := e.get("relabelled").Spec.Approval
		g.Expect(a.Approved).To(BeTrue())
		g.Expect(a.ApprovedBy).To(Equal("bob"))
	})

	t.Run("a GitOps controller that approves its own carts re-approves what it changes", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(e.argo.Create(t.Context(), newCart(e.ns, "from-git", withApproved()))).To(Succeed())
		first := e.get("from-git").Spec.Approval
		g.Expect(e.patch(e.argo, "from-git", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 30 })).To(Succeed())
		a := e.get("from-git").Spec.Approval
		g.Expect(a.Approved).To(BeTrue(), "the merged commit is the approval")
		g.Expect(a.ApprovedBy).To(Equal(e.gitopsServiceAcct))
		g.Expect(a.ApprovedAt >= first.ApprovedAt).To(BeTrue(), "re-stamped: %s after %s", a.ApprovedAt, first.ApprovedAt)
	})
}

// TestSelfApprovalThroughServiceAccounts: a person who may act as a ServiceAccount of the
// cart's namespace (edit lets them mint its tokens) cannot approve what it requested, and a
// ServiceAccount of the cart's own namespace never approves (every editor there can act as it).
// On 7803f87 both were accepted.
func TestSelfApprovalThroughServiceAccounts(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	for _, sa := range []string{"ci", "flux"} {
		g.Expect(e.admin.Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: sa}})).To(Succeed())
	}
	saSubject := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: e.ns, Name: name}
	}
	bindClusterRole(t, e.ns, "editor-role", saSubject("ci"))
	bindClusterRole(t, e.ns, "editor-role", saSubject("flux"))
	bindClusterRole(t, e.ns, "self-approver", saSubject("flux")) // the advice docs/gitops.md used to give
	bindClusterRole(t, e.ns, "approver", saSubject("flux"))
	saUser := func(name string) client.Client {
		return as(t, "system:serviceaccount:"+e.ns+":"+name, "system:serviceaccounts", "system:serviceaccounts:"+e.ns)
	}
	ci, flux := saUser("ci"), saUser("flux")
	g.Eventually(func() error { return ci.Create(t.Context(), newCart(e.ns, "asked-by-ci")) }).WithTimeout(10 * time.Second).Should(Succeed())

	t.Run("bob cannot approve a cart he asked for through a ServiceAccount he can act as", func(t *testing.T) {
		err := e.patch(e.bob, "asked-by-ci", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("an identity they can act as")))
	})

	t.Run("a ServiceAccount of the cart's namespace cannot approve, whatever its roles", func(t *testing.T) {
		g := NewWithT(t)
		g.Eventually(func() error { return flux.Create(t.Context(), newCart(e.ns, "flux-probe"), client.DryRunAll) }).
			WithTimeout(10 * time.Second).Should(Succeed())
		g.Expect(flux.Create(t.Context(), newCart(e.ns, "flux-approved", withApproved()))).
			To(MatchError(ContainSubstring("acts for every editor there")))
		err := e.patch(flux, "asked-by-ci", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
		g.Expect(err).To(MatchError(ContainSubstring("acts for every editor there")))
	})
}

// TestDecisionsNeedTheApproveVerb: repurchase-of and checkout-resolution buy again or settle a
// purchase: setting or changing them needs the approve verb, and who and when are stamped into
// <annotation>-by and -at, which nobody writes by hand. On 7803f87 any editor could set them
// and nothing recorded who.
func TestDecisionsNeedTheApproveVerb(t *testing.T) {
	e := newSoDEnv(t)
	for _, key := range []string{pcv1alpha1.RepurchaseOfAnnotation, pcv1alpha1.CheckoutResolutionAnnotation} {
		short := key[strings.Index(key, "/")+1:]
		t.Run(short, func(t *testing.T) {
			g := NewWithT(t)
			name := "decided-" + short
			g.Expect(e.alice.Create(t.Context(), newCart(e.ns, name))).To(Succeed())
			set := func(v string) func(*pcv1alpha1.PartnerCart) {
				return func(c *pcv1alpha1.PartnerCart) {
					if c.Annotations == nil {
						c.Annotations = map[string]string{}
					}
					c.Annotations[key] = v
				}
			}
			g.Expect(e.patch(e.alice, name, set("x"))).To(MatchError(ContainSubstring("is a purchase decision")))
			g.Expect(e.alice.Create(t.Context(), newCart(e.ns, name+"-2", func(c *pcv1alpha1.PartnerCart) { set("x")(c) }))).
				To(MatchError(ContainSubstring("is a purchase decision")), "not on create either (a re-applied YAML)")

			before := time.Now().Add(-2 * time.Second).UTC().Format(time.RFC3339)
			g.Expect(e.patch(e.bob, name, set("x"))).To(Succeed())
			ann := e.get(name).Annotations
			g.Expect(ann).To(HaveKeyWithValue(key+"-by", "bob"))
			g.Expect(ann[key+"-at"] >= before).To(BeTrue(), "stamped now: %s", ann[key+"-at"])

			g.Expect(e.patch(e.alice, name, func(c *pcv1alpha1.PartnerCart) {
				c.Annotations[key+"-by"] = "carol"
				c.Labels = map[string]string{"x": "y"}
			})).To(Succeed())
			g.Expect(e.get(name).Annotations).To(HaveKeyWithValue(key+"-by", "bob"), "a forged stamp is put back")
			g.Expect(e.get(name).Labels).To(HaveKeyWithValue("x", "y"), "the rest of the change is kept")
			g.Expect(e.alice.Create(t.Context(), newCart(e.ns, name+"-3", func(c *pcv1alpha1.PartnerCart) {
				c.Annotations = map[string]string{key + "-by": "bob"}
			}))).To(MatchError(ContainSubstring("cannot be set by hand")), "nor forged on create")

			g.Expect(e.patch(e.alice, name, func(c *pcv1alpha1.PartnerCart) { delete(c.Annotations, key) })).
				To(Succeed(), "withdrawing a decision is open to editors")
			g.Expect(e.get(name).Annotations).To(HaveKeyWithValue(key+"-by", "alice"))
		})
	}
}

// TestOnlyTheOperatorRemovesItsFinalizer: an editor's update that drops the finalizer (to make
// a cart with an Unknown checkout go without a receipt) keeps it; an admin (breaking glass)
// and the manager can remove it. On 7803f87 the editor's patch removed it.
func TestOnlyTheOperatorRemovesItsFinalizer(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "held", func(c *pcv1alpha1.PartnerCart) {
		c.Finalizers = []string{pcv1alpha1.Finalizer}
	}))).To(Succeed())
	g.Expect(e.alice.Delete(t.Context(), e.get("held"))).To(Succeed())
	g.Expect(e.patch(e.alice, "held", func(c *pcv1alpha1.PartnerCart) { c.Finalizers = nil })).To(Succeed())
	g.Expect(e.get("held").Finalizers).To(ConsistOf(pcv1alpha1.Finalizer), "the editor's patch kept it")
	cart := e.get("held")
	cart.Finalizers = nil
	g.Expect(e.alice.Update(t.Context(), cart)).To(Succeed(), "a replace from Git too")
	g.Expect(e.get("held").Finalizers).To(ConsistOf(pcv1alpha1.Finalizer))

	g.Expect(e.patch(e.admin, "held", func(c *pcv1alpha1.PartnerCart) { c.Finalizers = nil })).To(Succeed())
	g.Expect(apierrors.IsNotFound(e.admin.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "held"}, &pcv1alpha1.PartnerCart{}))).
		To(BeTrue(), "an admin can")
}

// TestApprovalPolicyCoversTheSpec: the policies name "what would be bought" field by field.
// A new spec field is part of it unless it is listed here with the reason it buys nothing;
// spec.cancellation is listed, and must not be named there.
func TestApprovalPolicyCoversTheSpec(t *testing.T) {
	notBought := map[string]string{
		"approval":       "the decision itself",
		"deletionPolicy": "what happens to the record when the object goes",
		// A request to undo the purchase, gated by config/policy/cancellation.yaml: asking for
		// it (a tenant, on a bought cart) must neither withdraw nor need the purchase approval.
		"cancellation": "undoing the purchase, approved on its own (cancellation.yaml)",
	}
	policy, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "policy", "approval.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(policy), "- name: contentChanged")
	if len(blocks) != 4 {
		t.Fatalf("want contentChanged in the requester, approver and validating policies, found %d", len(blocks)-1)
	}
	if strings.Contains(string(policy), "cancellation") {
		t.Errorf("approval.yaml names spec.cancellation: a cancellation request would withdraw or need the purchase approval")
	}
	spec := reflect.TypeFor[pcv1alpha1.PartnerCartSpec]()
	for i := range spec.NumField() {
		field := strings.Split(spec.Field(i).Tag.Get("json"), ",")[0]
		if _, ok := notBought[field]; ok {
			continue
		}
		for b, block := range blocks[1:] {
			expr := block[:strings.Index(block, "- name:")]
			if !strings.Contains(expr, "object.spec.?"+field) {
				t.Errorf("spec.%s is not in contentChanged of policy %d: an approved cart's %s could change without a new approval", field, b+1, field)
			}
		}
	}
}

// TestApprovedAtCannotBeForged: approvedAt is the latest time in the object's managedFields,
// and a writer can add an entry of their own to an update. An approver who adds one dated
// 2099 gets it stamped (on 7803f87 too), but the operator does not take an approval stamped in
// the future; an earlier date cannot win, since the request's own entry is now.
func TestApprovedAtCannotBeForged(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	for _, forged := range []time.Time{time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)} {
		name := "forged-" + forged.Format("2006")
		// The forged entry claims a field that is there already and that the request leaves alone.
		g.Expect(e.alice.Create(t.Context(), newCart(e.ns, name, func(c *pcv1alpha1.PartnerCart) { c.Labels = map[string]string{"forged": "yes"} }))).To(Succeed())
		cart := e.get(name)
		cart.Spec.Approval.Approved = true
		cart.ManagedFields = append(cart.ManagedFields, metav1.ManagedFieldsEntry{
			Manager: "forger", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: pcv1alpha1.GroupVersion.String(),
			Time: &metav1.Time{Time: forged}, FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:forged":{}}}}`),
		})
		start := time.Now().Add(-2 * time.Second)
		g.Expect(e.bob.Update(t.Context(), cart)).To(Succeed())
		stored := e.get(name)
		at, err := time.Parse(time.RFC3339, stored.Spec.Approval.ApprovedAt)
		g.Expect(err).NotTo(HaveOccurred())
		stored.Status.SpecHash = SpecHash(&stored.Spec)
		r := &PartnerCartReconciler{Admission: admissionStub("")}
		reason, msg := r.approvalDecision(t.Context(), &scope{cart: stored, now: time.Now()})
		t.Logf("%s: approvedAt %s, %s", name, stored.Spec.Approval.ApprovedAt, reason)
		if at.After(time.Now().Add(time.Minute)) {
			g.Expect(reason).To(Equal(pcv1alpha1.ApprovalNotStampedReason), "a stamp in the future is not taken: %s", msg)
		} else {
			g.Expect(at).To(BeTemporally(">=", start.Truncate(time.Second)), "an earlier date does not win")
			g.Expect(reason).To(Equal(pcv1alpha1.ApprovedReason), msg)
		}
	}
}

// TestDenialIsAnApproversDecision: denying a cart (spec.approval.denied, with a reason) is a
// recorded decision: an approver's, stamped with who and when, which an editor can neither
// take nor lift, and which the schema never lets stand beside an approval.
func TestDenialIsAnApproversDecision(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	deny := func(reason string) func(*pcv1alpha1.PartnerCart) {
		return func(c *pcv1alpha1.PartnerCart) {
			c.Spec.Approval.Approved, c.Spec.Approval.Denied, c.Spec.Approval.Reason = false, true, reason
		}
	}
	g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "denied"))).To(Succeed())
	g.Expect(e.patch(e.alice, "denied", deny("not mine to decide"))).To(MatchError(ContainSubstring("may not deny")))

	before := time.Now().Add(-2 * time.Second).UTC().Format(time.RFC3339)
	g.Expect(e.patch(e.bob, "denied", deny("over this quarter's budget"))).To(Succeed())
	a := e.get("denied").Spec.Approval
	g.Expect(a.Denied).To(BeTrue())
	g.Expect(a.ApprovedBy).To(Equal("bob"), "who denied it is stamped")
	g.Expect(a.ApprovedAt >= before).To(BeTrue(), "and when: %s", a.ApprovedAt)

	g.Expect(e.patch(e.alice, "denied", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Reason = "bob agreed after all" })).
		To(MatchError(ContainSubstring("may not deny")), "an editor cannot rewrite the approver's reason")
	g.Expect(e.patch(e.alice, "denied", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Denied = false })).
		To(MatchError(ContainSubstring("may not lift the denial")))
	g.Expect(e.patch(e.bob, "denied", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })).
		To(MatchError(ContainSubstring("approved and denied cannot both be true")))
	g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "born-denied", deny("x")))).
		To(MatchError(ContainSubstring("may not deny")), "nor on create (a YAML in Git)")

	// The editor changing the content of a denied cart leaves the denial and its stamps.
	g.Expect(e.patch(e.alice, "denied", func(c *pcv1alpha1.PartnerCart) { c.Spec.LineItems[0].Quantity = 3 })).To(Succeed())
	g.Expect(e.get("denied").Spec.Approval).To(And(HaveField("Denied", BeTrue()), HaveField("ApprovedBy", "bob")))

	g.Expect(e.patch(e.bob, "denied", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Denied = false })).To(Succeed(), "an approver lifts it")
	g.Expect(e.get("denied").Spec.Approval).To(And(HaveField("Denied", BeFalse()), HaveField("Approved", BeFalse())))
}
