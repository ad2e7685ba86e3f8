package controller

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// TestAdmissionPolicyCheck: the manager's check finds config/policy in force on a real API
// server, and finds it missing when a policy is deleted, changed, unbound, narrowed or only
// warns, or when the API server does not apply it (the dry-run probes). Each broken install
// is the real one as listed, altered on the way to the checker.
func TestAdmissionPolicyCheck(t *testing.T) {
	direct, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	check := func(funcs interceptor.Funcs) string {
		p := &AdmissionPolicies{Client: interceptor.NewClient(direct, funcs), Namespace: metav1.NamespaceDefault}
		return p.Check(t.Context())
	}
	NewWithT(t).Expect(check(interceptor.Funcs{})).To(BeEmpty(), "testenv installs config/policy")

	alterList := func(alter func(client.ObjectList)) interceptor.Funcs {
		return interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			alter(list)
			return nil
		}}
	}
	for _, tc := range []struct {
		name  string
		funcs interceptor.Funcs
		want  string
	}{
		{"the validating policy deleted", alterList(func(l client.ObjectList) {
			if v, ok := l.(*admissionv1.ValidatingAdmissionPolicyList); ok {
				v.Items = nil
			}
		}), "ValidatingAdmissionPolicy partnercart-approval is not installed"},
		{"a validation changed", alterList(func(l client.ObjectList) {
			if v, ok := l.(*admissionv1.ValidatingAdmissionPolicyList); ok {
				for i := range v.Items {
					if len(v.Items[i].Spec.Validations) > 0 {
						v.Items[i].Spec.Validations[0].Expression = "true"
					}
				}
			}
		}), "missing or changed"},
		{"a mutating policy deleted", alterList(func(l client.ObjectList) {
			if m, ok := l.(*admissionv1.MutatingAdmissionPolicyList); ok {
				m.Items = m.Items[1:]
			}
		}), "MutatingAdmissionPolicy"},
		{"the cancellation policy deleted", alterList(func(l client.ObjectList) {
			if v, ok := l.(*admissionv1.ValidatingAdmissionPolicyList); ok {
				v.Items = slices.DeleteFunc(v.Items, func(p admissionv1.ValidatingAdmissionPolicy) bool { return p.Name == "partnercart-cancellation" })
			}
		}), "ValidatingAdmissionPolicy partnercart-cancellation is not installed"},
		{"the cancellation stamp changed", alterList(func(l client.ObjectList) {
			if m, ok := l.(*admissionv1.MutatingAdmissionPolicyList); ok {
				for i := range m.Items {
					if m.Items[i].Name == "partnercart-cancellation-stamp" {
						m.Items[i].Spec.Mutations = m.Items[i].Spec.Mutations[:1]
					}
				}
			}
		}), "MutatingAdmissionPolicy partnercart-cancellation-stamp is not installed"},
		{"the bindings deleted", alterList(func(l client.ObjectList) {
			if b, ok := l.(*admissionv1.ValidatingAdmissionPolicyBindingList); ok {
				b.Items = nil
			}
		}), "has no binding"},
		{"a binding that only warns", alterList(func(l client.ObjectList) {
			if b, ok := l.(*admissionv1.ValidatingAdmissionPolicyBindingList); ok {
				for i := range b.Items {
					b.Items[i].Spec.ValidationActions = []admissionv1.ValidationAction{admissionv1.Warn}
				}
			}
		}), "has no binding"},
		{"a binding narrowed to some namespaces", alterList(func(l client.ObjectList) {
			if b, ok := l.(*admissionv1.MutatingAdmissionPolicyBindingList); ok {
				for i := range b.Items {
					b.Items[i].Spec.MatchResources = &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}}
				}
			}
		}), "has no binding"},
		{"the API server applies no mutation", interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return nil // as if admitted unchanged
		}}, "did not stamp"},
		{"the API server validates nothing", interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			cart := obj.(*pcv1alpha1.PartnerCart)
			cart.Spec.Approval.RequestedBy = "system:admin"
			if cart.Spec.Cancellation != nil {
				cart.Spec.Cancellation.RequestedBy = "system:admin"
			}
			return nil
		}}, "hand-written spec.approval.approvedBy: the validating policy is not in force"},
		{"the API server stamps no cancellation", interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			if cart := obj.(*pcv1alpha1.PartnerCart); cart.Spec.Cancellation != nil {
				cart.Spec.Cancellation.RequestedBy = "admission-probe-forged"
			}
			return nil
		}}, "did not stamp spec.cancellation.requestedBy"},
		{"the API server does not validate cancellations", interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if cart := obj.(*pcv1alpha1.PartnerCart); cart.Spec.Cancellation != nil && cart.Spec.Cancellation.ApprovedBy != "" {
				return nil // admitted as if partnercart-cancellation were not there
			}
			return c.Create(ctx, obj, opts...)
		}}, "hand-written spec.cancellation.approvedBy: the validating policy is not in force"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(check(tc.funcs)).To(ContainSubstring(tc.want))
		})
	}
}

// TestNothingIsBoughtWithoutTheAdmissionPolicies: while the admission policies are not in
// force, an approved cart is not checked out, and says why; once they are, it is. On 7803f87
// the operator bought whatever an editor marked approved with the policies deleted.
func TestNothingIsBoughtWithoutTheAdmissionPolicies(t *testing.T) {
	g := NewWithT(t)
	gate := &switchableAdmission{}
	gate.set("ValidatingAdmissionPolicy partnercart-approval is not installed as config/policy has it (missing or changed)")
	o := startOperator(t, operatorOptions{admission: gate})
	o.create("unguarded", withApproved())
	o.eventually("unguarded", 30*time.Second).Should(And(havePhase(pcv1alpha1.PhaseAwaitingApproval),
		haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.AdmissionPoliciesNotInForceReason)))
	cond := o.get("unguarded").Status.Conditions
	g.Expect(cond).To(ContainElement(HaveField("Message", ContainSubstring("partnercart-approval is not installed"))))
	g.Consistently(func() int { return o.requests("Checkout") }).WithTimeout(time.Second).Should(BeZero())

	g.Expect(o.get("unguarded").Status.UntrustedApproval).NotTo(BeEmpty(), "the approval it saw meanwhile is remembered")

	// Back: that approval, which anyone could have typed, still buys nothing.
	gate.set("")
	// Any spec change wakes the cart at once; without one it looks again within 30 s.
	o.update("unguarded", func(c *pcv1alpha1.PartnerCart) { c.Spec.DeletionPolicy = pcv1alpha1.DeletionPolicyOrphan })
	o.eventually("unguarded", 30*time.Second).Should(haveCondition(pcv1alpha1.ApprovedCondition, metav1.ConditionFalse, pcv1alpha1.ApprovalNotStampedReason))
	g.Expect(o.requests("Checkout")).To(BeZero())

	// An approver approves again, under the policies: it is bought.
	o.update("unguarded", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = false })
	o.update("unguarded", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.Approved = true })
	o.eventually("unguarded", 30*time.Second).Should(havePhase(pcv1alpha1.PhaseCompleted))
	g.Expect(o.requests("Checkout")).To(Equal(1))
}

type switchableAdmission struct{ problem atomic.Pointer[string] }

func (s *switchableAdmission) set(p string)     { s.problem.Store(&p) }
func (s *switchableAdmission) Problem() string  { return *s.problem.Load() }
func (s *switchableAdmission) Since() time.Time { return time.Time{} }
func (s *switchableAdmission) Missing() bool    { return s.Problem() != "" }
func (s *switchableAdmission) CheckedAfter(context.Context, time.Time) string {
	return s.Problem()
}

// TestApprovalNeedsTheStamps: an approval without the API server's stamps, or with an
// approvedAt in the future (a managedFields entry the writer added), is not one.
func TestApprovalNeedsTheStamps(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	stamped := func(by, at string) *pcv1alpha1.PartnerCart {
		c := newCart("ns", "c", withApproved())
		c.Spec.Approval.ApprovedBy, c.Spec.Approval.ApprovedAt = by, at
		c.Status.SpecHash = SpecHash(&c.Spec)
		return c
	}
	for _, tc := range []struct {
		name      string
		admission AdmissionCheck
		cart      *pcv1alpha1.PartnerCart
		reason    string
	}{
		{"stamped", admissionStub(""), stamped("bob", "2026-12-04T11:59:00Z"), pcv1alpha1.ApprovedReason},
		{"stamped a moment ahead of our clock", admissionStub(""), stamped("bob", "2026-12-04T12:00:04Z"), pcv1alpha1.ApprovedReason},
		{"stamped a minute ahead of our clock", admissionStub(""), stamped("bob", "2026-12-04T12:01:00Z"), pcv1alpha1.ApprovalNotStampedReason},
		{"no stamps", admissionStub(""), stamped("", ""), pcv1alpha1.ApprovalNotStampedReason},
		{"no time", admissionStub(""), stamped("bob", ""), pcv1alpha1.ApprovalNotStampedReason},
		{"a time in 2099", admissionStub(""), stamped("bob", "2099-01-01T00:00:00Z"), pcv1alpha1.ApprovalNotStampedReason},
		{"a time that is none", admissionStub(""), stamped("bob", "yesterday"), pcv1alpha1.ApprovalNotStampedReason},
		{"policies not in force", admissionStub("gone"), stamped("bob", "2026-12-04T11:59:00Z"), pcv1alpha1.AdmissionPoliciesNotInForceReason},
		{"no checker", nil, stamped("bob", "2026-12-04T11:59:00Z"), pcv1alpha1.AdmissionPoliciesNotInForceReason},
		{"seen while the policies were not in force", admissionStub(""), func() *pcv1alpha1.PartnerCart {
			c := stamped("bob", "2026-12-04T11:59:00Z")
			c.Status.UntrustedApproval = "bob at 2026-12-04T11:59:00Z"
			return c
		}(), pcv1alpha1.ApprovalNotStampedReason},
		{"stamped before the policies were back", sinceStub("2026-12-04T11:59:30Z"), stamped("bob", "2026-12-04T11:59:00Z"), pcv1alpha1.ApprovalNotStampedReason},
		{"stamped after the policies were back", sinceStub("2026-12-04T11:58:30Z"), stamped("bob", "2026-12-04T11:59:00Z"), pcv1alpha1.ApprovedReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &PartnerCartReconciler{Admission: tc.admission}
			reason, msg := r.approvalDecision(t.Context(), &scope{cart: tc.cart, now: now})
			g := NewWithT(t)
			g.Expect(reason).To(Equal(tc.reason), msg)
			g.Expect(strings.TrimSpace(msg)).NotTo(BeEmpty())
		})
	}
	t.Run("an approval seen while the policies are not in force is remembered", func(t *testing.T) {
		c := stamped("bob", "2026-12-04T11:59:00Z")
		r := &PartnerCartReconciler{Admission: admissionStub("gone")}
		r.approvalDecision(t.Context(), &scope{cart: c, now: now})
		NewWithT(t).Expect(c.Status.UntrustedApproval).To(Equal("bob at 2026-12-04T11:59:00Z"))
	})
}

// sinceStub is a check that finds the policies in force since an RFC 3339 time.
type sinceStub string

func (s sinceStub) Problem() string                                { return "" }
func (s sinceStub) Missing() bool                                  { return false }
func (s sinceStub) CheckedAfter(context.Context, time.Time) string { return "" }
func (s sinceStub) Since() time.Time {
	t, _ := time.Parse(time.RFC3339, string(s))
	return t
}

// TestApprovalNewerThanTheLastCheckIsCheckedAgain: the policies were in force at the last
// check; an approval stamped after it is trusted only once a new check finds them in force
// still: deleted in between, nothing is bought. Checks are shared, not run per reconcile.
func TestApprovalNewerThanTheLastCheckIsCheckedAgain(t *testing.T) {
	g := NewWithT(t)
	direct, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	var deleted atomic.Bool
	var lists atomic.Int32
	p := &AdmissionPolicies{Namespace: metav1.NamespaceDefault, Client: interceptor.NewClient(direct, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lists.Add(1)
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			if b, ok := list.(*admissionv1.ValidatingAdmissionPolicyBindingList); ok && deleted.Load() {
				b.Items = nil
			}
			return nil
		}})}
	g.Expect(p.checkAndRecord(t.Context())).To(BeEmpty())
	before := lists.Load()
	g.Expect(p.CheckedAfter(t.Context(), time.Now().Add(-time.Hour))).To(BeEmpty(), "an older stamp needs no new check")
	g.Expect(lists.Load()).To(Equal(before))

	deleted.Store(true) // an admin deletes the binding; the periodic check has not run yet
	g.Expect(p.CheckedAfter(t.Context(), time.Now())).To(ContainSubstring("has no binding"), "a newer stamp is checked again")
	g.Expect(p.Problem()).To(ContainSubstring("has no binding"))

	deleted.Store(false)
	g.Expect(p.CheckedAfter(t.Context(), time.Now())).To(BeEmpty())
	before = lists.Load()
	g.Expect(p.CheckedAfter(t.Context(), time.Now().Add(-time.Second))).To(BeEmpty())
	g.Expect(lists.Load()).To(Equal(before), "one check serves every stamp before it began")
}

// undecidedStub is a check that cannot tell (a start, the API server unreachable).
type undecidedStub string

func (u undecidedStub) Problem() string                                { return string(u) }
func (u undecidedStub) Since() time.Time                               { return time.Time{} }
func (u undecidedStub) CheckedAfter(context.Context, time.Time) string { return string(u) }
func (u undecidedStub) Missing() bool                                  { return false }

// TestAnApprovalIsNotLostWhileTheCheckCannotTell: at a start (before the first check ends) or
// with the API server unreachable, an approved cart waits, but its approval is not remembered
// as untrusted: once the check finds the policies in force, it buys. (The chaos run's restarted
// managers left 43 carts waiting forever when it was.)
func TestAnApprovalIsNotLostWhileTheCheckCannotTell(t *testing.T) {
	g := NewWithT(t)
	c := newCart("ns", "c", withApproved())
	c.Spec.Approval.ApprovedBy, c.Spec.Approval.ApprovedAt = "bob", "2026-12-04T11:59:00Z"
	c.Status.SpecHash = SpecHash(&c.Spec)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, problem := range []string{problemNotChecked, "cannot list policies: connection refused"} {
		r := &PartnerCartReconciler{Admission: undecidedStub(problem)}
		reason, _ := r.approvalDecision(t.Context(), &scope{cart: c, now: now})
		g.Expect(reason).To(Equal(pcv1alpha1.AdmissionPoliciesNotInForceReason))
		g.Expect(c.Status.UntrustedApproval).To(BeEmpty(), problem)
	}
	r := &PartnerCartReconciler{Admission: admissionStub("")}
	reason, msg := r.approvalDecision(t.Context(), &scope{cart: c, now: now})
	g.Expect(reason).To(Equal(pcv1alpha1.ApprovedReason), msg)
}
