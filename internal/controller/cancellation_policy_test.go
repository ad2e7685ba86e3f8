package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// cancellation returns the cart's spec.cancellation, never nil.
func cancellation(c *pcv1alpha1.PartnerCart) *pcv1alpha1.Cancellation {
	if c.Spec.Cancellation == nil {
		c.Spec.Cancellation = &pcv1alpha1.Cancellation{}
	}
	return c.Spec.Cancellation
}

func requestCancellation(reason string) func(*pcv1alpha1.PartnerCart) {
	return func(c *pcv1alpha1.PartnerCart) {
		cancellation(c).Requested, cancellation(c).Reason = true, reason
	}
}

func approveCancellation(approved bool) func(*pcv1alpha1.PartnerCart) {
	return func(c *pcv1alpha1.PartnerCart) { cancellation(c).Approved = approved }
}

// recentStamp parses an RFC 3339 stamp and checks that it is this request's time.
func recentStamp(g *WithT, stamp string, before time.Time) {
	at, err := time.Parse(time.RFC3339, stamp)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred(), "stamp %q", stamp)
	g.ExpectWithOffset(1, at).To(BeTemporally(">=", before.Truncate(time.Second)))
	g.ExpectWithOffset(1, at).To(BeTemporally("<=", time.Now().Add(2*time.Second)))
}

// TestCancellationPolicy: a cancellation (spec.cancellation) is gated like the purchase, by
// config/policy/cancellation.yaml, on the real API server: editors ask, approvers approve (not
// their own request without approve-own, never as a ServiceAccount of the cart's namespace),
// who and when are stamped and cannot be typed, a new request withdraws an approval, asking
// leaves the purchase approval alone, and once the operator started the request is history.
func TestCancellationPolicy(t *testing.T) {
	e := newSoDEnv(t)
	g := NewWithT(t)
	bindClusterRole(t, e.ns, "editor-role", user("dave"))
	dave := as(t, "dave")
	g.Expect(e.admin.Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "release"}})).To(Succeed())
	releaseSA := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: e.ns, Name: "release"}
	bindClusterRole(t, e.ns, "editor-role", releaseSA)
	bindClusterRole(t, e.ns, "approver", releaseSA)
	release := as(t, "system:serviceaccount:"+e.ns+":release", "system:serviceaccounts", "system:serviceaccounts:"+e.ns)

	// The purchase was approved by bob; its stamps must not move for a cancellation.
	e.approvedBy("bought", e.alice, e.bob)
	purchase := e.get("bought").Spec.Approval
	g.Expect(purchase.ApprovedBy).To(Equal("bob"))

	t.Run("an editor requests, and is stamped; the purchase approval stays", func(t *testing.T) {
		g := NewWithT(t)
		before := time.Now().Add(-2 * time.Second)
		g.Eventually(func() error {
			return e.patch(e.alice, "bought", requestCancellation("bought the wrong edition"))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		c := e.get("bought")
		g.Expect(c.Spec.Cancellation.RequestedBy).To(Equal("alice"))
		recentStamp(g, c.Spec.Cancellation.RequestedAt, before)
		g.Expect(c.Spec.Cancellation.ApprovedBy).To(BeEmpty())
		g.Expect(c.Spec.Cancellation.ApprovedAt).To(BeEmpty())
		g.Expect(c.Spec.Approval).To(Equal(purchase), "a cancellation request is not purchase content")
	})

	t.Run("an editor cannot approve it", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(e.patch(dave, "bought", approveCancellation(true))).To(MatchError(And(
			ContainSubstring("may not approve the cancellation of PartnerCart bought, which alice requested"),
			ContainSubstring("needs the verb approve on partnercarts/approval"))))
		g.Expect(e.patch(e.alice, "bought", approveCancellation(true))).To(MatchError(And(
			ContainSubstring("which they requested last"),
			ContainSubstring("self-approval needs the verb approve-own on partnercarts/approval"))), "nor her own request")
		g.Expect(e.get("bought").Spec.Cancellation.Approved).To(BeFalse())
	})

	t.Run("a ServiceAccount of the cart's namespace cannot approve it", func(t *testing.T) {
		g := NewWithT(t)
		g.Eventually(func() error { return e.patch(release, "bought", approveCancellation(true)) }).
			WithTimeout(10*time.Second).Should(MatchError(ContainSubstring("acts for every editor there")), "whatever its roles")
		g.Expect(e.get("bought").Spec.Cancellation.Approved).To(BeFalse())
	})

	t.Run("an approver approves, and is stamped", func(t *testing.T) {
		g := NewWithT(t)
		before := time.Now().Add(-2 * time.Second)
		g.Expect(e.patch(e.bob, "bought", approveCancellation(true))).To(Succeed())
		c := e.get("bought")
		g.Expect(c.Spec.Cancellation.Approved).To(BeTrue())
		g.Expect(c.Spec.Cancellation.ApprovedBy).To(Equal("bob"))
		recentStamp(g, c.Spec.Cancellation.ApprovedAt, before)
		g.Expect(c.Spec.Cancellation.RequestedBy).To(Equal("alice"), "the requester stays")
		g.Expect(c.Spec.Approval).To(Equal(purchase), "the purchase approval stamps are untouched")
	})

	t.Run("stamps cannot be set by hand", func(t *testing.T) {
		g := NewWithT(t)
		stamped := *e.get("bought").Spec.Cancellation
		g.Expect(e.patch(e.alice, "bought", func(c *pcv1alpha1.PartnerCart) {
			c.Spec.Cancellation.ApprovedBy, c.Spec.Cancellation.RequestedBy = "carol", "carol"
		})).To(Succeed(), "the recorded stamps are put back")
		g.Expect(*e.get("bought").Spec.Cancellation).To(Equal(stamped))

		// Replacing spec.cancellation wholesale without changing the request keeps the stamps.
		c := e.get("bought")
		c.Spec.Cancellation = &pcv1alpha1.Cancellation{Requested: true, Reason: stamped.Reason, Approved: true}
		g.Expect(e.alice.Update(t.Context(), c)).To(Succeed())
		g.Expect(*e.get("bought").Spec.Cancellation).To(Equal(stamped))

		const msg = "spec.cancellation.requestedBy, requestedAt, approvedBy and approvedAt are recorded by the API server and cannot be set by hand"
		g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "forged-approver", requestCancellation("x"), func(c *pcv1alpha1.PartnerCart) {
			c.Spec.Cancellation.ApprovedBy, c.Spec.Cancellation.ApprovedAt = "bob", "2025-01-01T00:00:00Z"
		}))).To(MatchError(ContainSubstring(msg)))
		g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "forged-requester", requestCancellation("x"), func(c *pcv1alpha1.PartnerCart) {
			c.Spec.Cancellation.RequestedBy = "bob"
		}))).To(Succeed(), "the requester stamp overwrites a forged one")
		g.Expect(e.get("forged-requester").Spec.Cancellation.RequestedBy).To(Equal("alice"))
		g.Expect(e.patch(e.alice, "forged-requester", func(c *pcv1alpha1.PartnerCart) {
			c.Spec.Cancellation.ApprovedBy, c.Spec.Cancellation.ApprovedAt = "bob", "2025-01-01T00:00:00Z"
		})).To(MatchError(ContainSubstring(msg)), "an approval stamp typed where there was none")
		g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "forged-unrequested", func(c *pcv1alpha1.PartnerCart) {
			cancellation(c).RequestedBy = "bob"
		}))).To(MatchError(ContainSubstring(msg)), "nor a requester on a cancellation nobody asked for")
	})

	t.Run("changing what is asked withdraws the approval", func(t *testing.T) {
		g := NewWithT(t)
		before := time.Now().Add(-2 * time.Second)
		g.Expect(e.patch(dave, "bought", func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.LineItems = []int32{0} })).To(Succeed())
		c := e.get("bought").Spec.Cancellation
		g.Expect(c.Approved).To(BeFalse(), "bob approved another request")
		g.Expect(c.ApprovedBy).To(Equal("dave"), "who withdrew it is recorded")
		recentStamp(g, c.ApprovedAt, before)
		g.Expect(c.RequestedBy).To(Equal("dave"), "the requester is who last changed the request")
		g.Expect(e.get("bought").Spec.Approval).To(Equal(purchase))

		g.Expect(e.patch(e.bob, "bought", approveCancellation(true))).To(Succeed())
		g.Expect(e.patch(e.bob, "bought", func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.Reason = "and the seats" })).To(Succeed())
		c = e.get("bought").Spec.Cancellation
		g.Expect(c.Approved).To(BeFalse(), "an approver without approve-own withdraws too")
		g.Expect(c.RequestedBy).To(Equal("bob"))
		g.Expect(e.patch(e.bob, "bought", approveCancellation(true))).
			To(MatchError(ContainSubstring("self-approval needs the verb approve-own")), "and cannot approve his own request")
	})

	t.Run("the requester who is an approver needs approve-own", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "asked-by-bob"))).To(Succeed())
		g.Expect(e.patch(e.bob, "asked-by-bob", requestCancellation("not needed"))).To(Succeed())
		g.Expect(e.patch(e.bob, "asked-by-bob", approveCancellation(true))).To(MatchError(And(
			ContainSubstring("may not approve the cancellation of PartnerCart asked-by-bob, which they requested last"),
			ContainSubstring("self-approval needs the verb approve-own on partnercarts/approval"))))
		g.Expect(e.alice.Create(t.Context(), newCart(e.ns, "bob-in-one-go"))).To(Succeed())
		g.Expect(e.patch(e.bob, "bob-in-one-go", func(c *pcv1alpha1.PartnerCart) {
			requestCancellation("x")(c)
			approveCancellation(true)(c)
		})).To(MatchError(ContainSubstring("self-approval needs the verb approve-own")), "nor ask and approve in one patch")
	})

	t.Run("a GitOps controller with approve-own asks and approves from Git, and re-approves its changes", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(e.argo.Create(t.Context(), newCart(e.ns, "from-git", requestCancellation("from Git"), approveCancellation(true)))).To(Succeed())
		c := e.get("from-git").Spec.Cancellation
		g.Expect(c).To(And(HaveField("Approved", true), HaveField("RequestedBy", e.gitopsServiceAcct), HaveField("ApprovedBy", e.gitopsServiceAcct)))
		g.Expect(e.patch(e.argo, "from-git", func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.Reason = "reviewed again" })).To(Succeed())
		g.Expect(e.get("from-git").Spec.Cancellation.Approved).To(BeTrue(), "re-approved by its requester")
		g.Expect(e.patch(e.alice, "from-git", func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.Reason = "mine now" })).To(Succeed())
		c = e.get("from-git").Spec.Cancellation
		g.Expect(c).To(And(HaveField("Approved", false), HaveField("ApprovedBy", "alice"), HaveField("RequestedBy", "alice")))
	})

	t.Run("once the operator started, spec.cancellation is history", func(t *testing.T) {
		g := NewWithT(t)
		e.approvedBy("started", e.alice, e.bob)
		// Bought: a cancellation request is still allowed on a checked-out cart.
		c := e.get("started")
		c.Status.Checkout = &pcv1alpha1.CheckoutStatus{RequestID: "r", CartID: "cart-1", SpecHash: "sha256:x",
			Outcome: pcv1alpha1.CheckoutOutcome("Succeeded"), StartedAt: metav1.Now()}
		g.Expect(e.admin.Status().Update(t.Context(), c)).To(Succeed())
		g.Expect(e.patch(e.alice, "started", requestCancellation("too many"))).To(Succeed(), "asking to cancel a bought cart")
		g.Expect(e.patch(e.bob, "started", approveCancellation(true))).To(Succeed())
		g.Expect(e.patch(e.alice, "started", func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.Reason = "far too many" })).
			To(Succeed(), "still a request until the operator starts")
		g.Expect(e.patch(e.bob, "started", approveCancellation(true))).To(Succeed())

		c = e.get("started")
		req := *c.Spec.Cancellation
		c.Status.Cancellation = &pcv1alpha1.CancellationStatus{RequestedBy: req.RequestedBy, RequestedAt: req.RequestedAt,
			ApprovedBy: req.ApprovedBy, ApprovedAt: req.ApprovedAt, Reason: req.Reason, StartedAt: metav1.Now()}
		g.Expect(e.admin.Status().Update(t.Context(), c)).To(Succeed())

		for name, change := range map[string]func(*pcv1alpha1.PartnerCart){
			"reason":             func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.Reason = "other" },
			"lineItems":          func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation.LineItems = []int32{0} },
			"approval withdrawn": approveCancellation(false),
			"request withdrawn": func(c *pcv1alpha1.PartnerCart) {
				c.Spec.Cancellation.Requested, c.Spec.Cancellation.Approved = false, false
			},
			"cancellation erased": func(c *pcv1alpha1.PartnerCart) { c.Spec.Cancellation = nil },
		} {
			for who, cl := range map[string]client.Client{"alice": e.alice, "bob": e.bob, "admin": e.admin} {
				g.Expect(e.patch(cl, "started", change)).To(MatchError(ContainSubstring("spec.cancellation is history once the cancellation started at")),
					"%s: %s", who, name)
			}
		}
		g.Expect(*e.get("started").Spec.Cancellation).To(Equal(req))

		g.Expect(e.patch(e.alice, "started", func(c *pcv1alpha1.PartnerCart) { c.Labels = map[string]string{"team": "a"} })).To(Succeed(), "other edits pass")
		c = e.get("started")
		c.Spec.Cancellation = &pcv1alpha1.Cancellation{Requested: true, Reason: req.Reason, Approved: true}
		g.Expect(e.argo.Update(t.Context(), c)).To(Succeed(), "a re-apply of the same request (stamps kept) passes")
		g.Expect(*e.get("started").Spec.Cancellation).To(Equal(req))
	})
}
