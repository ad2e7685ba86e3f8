package controller

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// as is a client that impersonates a user, as `kubectl --as` does.
func as(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append([]string{"system:authenticated"}, groups...)}
	// Each person's writes carry a field manager of their own, as different kubectl commands
	// (edit, patch, apply) do; one shared test binary name would merge their managedFields.
	cfg.UserAgent = strings.NewReplacer(":", "-", "/", "-").Replace(user)
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return c
}

func bindClusterRole(t *testing.T, ns, role string, subject rbacv1.Subject) {
	t.Helper()
	NewWithT(t).Expect(env.Client.Create(t.Context(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: role + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{subject},
	})).To(Succeed())
}

func user(name string) rbacv1.Subject {
	return rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}
}

func setApproved(c client.Client, t *testing.T, ns, name string, approved bool) error {
	cart := &pcv1alpha1.PartnerCart{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, cart); err != nil {
		return err
	}
	patch := client.MergeFrom(cart.DeepCopy())
	cart.Spec.Approval.Approved = approved
	return c.Patch(t.Context(), cart, patch)
}

// applyUserRoles installs the ClusterRoles for people of config/rbac (editor, approver,
// self-approver), once for the shared API server.
func applyUserRoles(t *testing.T) {
	t.Helper()
	for _, f := range []string{"partnercart_editor_role.yaml", "partnercart_approver_role.yaml"} {
		err := testenv.ApplyFile(t.Context(), env.Client, filepath.Join(testenv.RepoRoot(), "config", "rbac", f))
		if !apierrors.IsAlreadyExists(err) {
			NewWithT(t).Expect(err).NotTo(HaveOccurred())
		}
	}
}

// TestApprovalPolicy: separation of duties, enforced at admission by config/policy/approval.yaml
// with the roles of config/rbac, for users impersonated as `kubectl --as` would: an editor
// cannot approve, an approver can (and is recorded), nobody approves their own cart without
// approve-own, nobody writes the stamps by hand, and a GitOps controller's service account with
// approve-own creates approved carts from Git.
func TestApprovalPolicy(t *testing.T) {
	g := NewWithT(t)
	applyUserRoles(t)
	ns := newNamespace(t)
	const gitops = "system:serviceaccount:argocd:argocd-application-controller"
	for _, u := range []string{"alice", "bob", "carol"} {
		bindClusterRole(t, ns, "editor-role", user(u))
	}
	bindClusterRole(t, ns, "approver", user("bob"))
	bindClusterRole(t, ns, "approver", user("carol"))
	bindClusterRole(t, ns, "editor-role", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "argocd", Name: "argocd-application-controller"})
	bindClusterRole(t, ns, "self-approver", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "argocd", Name: "argocd-application-controller"})
	alice, bob, carol := as(t, "alice"), as(t, "bob"), as(t, "carol")
	argo := as(t, gitops, "system:serviceaccounts", "system:serviceaccounts:argocd")
	get := func(name string) *pcv1alpha1.PartnerCart {
		c := &pcv1alpha1.PartnerCart{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, c)).To(Succeed())
		return c
	}
	// RBAC may take a moment to reach the authorizer's cache: the first allowed write waits for it.
	g.Eventually(func() error { return alice.Create(t.Context(), newCart(ns, "asked-by-alice")) }).WithTimeout(10 * time.Second).Should(Succeed())

	t.Run("the requester is stamped on create", func(t *testing.T) {
		NewWithT(t).Expect(get("asked-by-alice").Spec.Approval.RequestedBy).To(Equal("alice"))
	})

	t.Run("an editor cannot approve", func(t *testing.T) {
		g := NewWithT(t)
		err := setApproved(alice, t, ns, "asked-by-alice", true)
		g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		g.Expect(err.Error()).To(ContainSubstring("on partnercarts/approval"), "she wrote it: self-approval")
		g.Expect(alice.Create(t.Context(), newCart(ns, "created-approved", withApproved()))).To(MatchError(ContainSubstring("on partnercarts/approval")))
		g.Expect(get("asked-by-alice").Spec.Approval.Approved).To(BeFalse())
	})

	t.Run("an approver can, and is recorded", func(t *testing.T) {
		g := NewWithT(t)
		before := time.Now().Add(-2 * time.Second)
		g.Expect(setApproved(bob, t, ns, "asked-by-alice", true)).To(Succeed())
		a := get("asked-by-alice").Spec.Approval
		g.Expect(a.Approved).To(BeTrue())
		g.Expect(a.ApprovedBy).To(Equal("bob"))
		g.Expect(a.RequestedBy).To(Equal("alice"), "the requester stays")
		at, err := time.Parse(time.RFC3339, a.ApprovedAt)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(at).To(BeTemporally(">=", before.Truncate(time.Second)))
		g.Expect(at).To(BeTemporally("<=", time.Now().Add(2*time.Second)))
	})

	t.Run("nobody writes the stamps by hand", func(t *testing.T) {
		g := NewWithT(t)
		cart := get("asked-by-alice")
		patch := client.MergeFrom(cart.DeepCopy())
		cart.Spec.Approval.ApprovedBy = "someone-else"
		g.Expect(alice.Patch(t.Context(), cart, patch)).To(Succeed(), "the recorded approver is put back")
		g.Expect(get("asked-by-alice").Spec.Approval.ApprovedBy).To(Equal("bob"))
		forged := newCart(ns, "forged", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.RequestedBy = "bob" })
		g.Expect(alice.Create(t.Context(), forged)).To(Succeed(), "the requester stamp overwrites a forged one")
		g.Expect(get("forged").Spec.Approval.RequestedBy).To(Equal("alice"))
		forged = newCart(ns, "forged-approver", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.ApprovedBy = "bob" })
		g.Expect(alice.Create(t.Context(), forged)).To(MatchError(ContainSubstring("cannot be set by hand")))

		// Replacing spec.approval wholesale without a decision keeps the stamps.
		cart = get("asked-by-alice")
		stamps := cart.Spec.Approval
		cart.Spec.Approval = pcv1alpha1.Approval{Approved: true}
		g.Expect(bob.Update(t.Context(), cart)).To(Succeed())
		g.Expect(get("asked-by-alice").Spec.Approval).To(Equal(stamps))
	})

	t.Run("a requester cannot approve their own cart", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(carol.Create(t.Context(), newCart(ns, "asked-by-carol"))).To(Succeed())
		err := setApproved(carol, t, ns, "asked-by-carol", true)
		g.Expect(err).To(MatchError(ContainSubstring("self-approval needs the verb approve-own")))
		g.Expect(setApproved(bob, t, ns, "asked-by-carol", true)).To(Succeed(), "another approver can")
		g.Expect(get("asked-by-carol").Spec.Approval.ApprovedBy).To(Equal("bob"))
	})

	t.Run("anyone who may edit may withdraw an approval, and is recorded", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(setApproved(alice, t, ns, "asked-by-carol", false)).To(Succeed(), "withdrawing buys nothing")
		a := get("asked-by-carol").Spec.Approval
		g.Expect(a.Approved).To(BeFalse())
		g.Expect(a.ApprovedBy).To(Equal("alice"), "who changed the decision last")
		g.Expect(setApproved(alice, t, ns, "asked-by-carol", true)).To(MatchError(ContainSubstring("approve on partnercarts/approval")),
			"but approving again is an approver's")
	})

	t.Run("a GitOps controller applies an approved cart from Git", func(t *testing.T) {
		g := NewWithT(t)
		cart := newCart(ns, "from-git", withApproved(), func(c *pcv1alpha1.PartnerCart) {
			c.Labels = map[string]string{"app.kubernetes.io/instance": "licences"}
			c.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "licences:partnercenter.partnercart.dev/PartnerCart:" + ns + "/from-git"}
		})
		g.Expect(argo.Create(t.Context(), cart)).To(Succeed())
		a := get("from-git").Spec.Approval
		g.Expect(a.RequestedBy).To(Equal(gitops))
		g.Expect(a.ApprovedBy).To(Equal(gitops))
		g.Expect(a.ApprovedAt).NotTo(BeEmpty())
		g.Expect(alice.Create(t.Context(), newCart(ns, "alice-from-git", withApproved()))).To(MatchError(ContainSubstring("approve")),
			"a person with edit cannot do the same")
	})
}
