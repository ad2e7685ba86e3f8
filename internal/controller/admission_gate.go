package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/config/policy"
)

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies;validatingadmissionpolicybindings;mutatingadmissionpolicies;mutatingadmissionpolicybindings,verbs=list

// AdmissionPolicies tells whether the API server enforces the approval policies of
// config/policy. Every approval stamp and decision annotation the operator acts on means
// something only while it does: without them an editor can mark a cart approved and type the
// stamps. So no checkout starts, and no decision annotation is read, until a check has found
// them installed unchanged, bound, and in force (a dry run shows the stamps applied and
// forged ones refused), and again every Interval.
//
// What it does not see: a policy changed and changed back between two checks, and an
// authorizer that grants "approve" to people it should not; RBAC is the platform team's.
type AdmissionPolicies struct {
	// Client reads policies and bindings and dry-runs the probes; uncached.
	Client client.Client
	// Namespace is where the probe PartnerCarts are dry-run created: the manager's own, where
	// its Role allows creating them.
	Namespace string
	// Interval between checks while the policies are in force (default one minute); while
	// they are not, the checks come every tenth of it, so that carts start soon after an
	// admin installs them.
	Interval time.Duration
	Log      logr.Logger

	problem atomic.Pointer[string]
	missing atomic.Bool
	// undecided is set by a check that could not tell (an error listing or probing).
	undecided bool
	since     atomic.Pointer[time.Time]
	// mu serializes checks; checkedAt is when the last check that found them in force began.
	mu        sync.Mutex
	checkedAt time.Time
	// created is the latest creation time of the policies and bindings the last check found.
	created time.Time
	// back is when a check found them in force after one that did not.
	back time.Time
}

// Missing implements AdmissionCheck.
func (p *AdmissionPolicies) Missing() bool { return p.missing.Load() }

// Since implements AdmissionCheck.
func (p *AdmissionPolicies) Since() time.Time {
	if v := p.since.Load(); v != nil {
		return *v
	}
	return time.Time{}
}

// AdmissionCheck is what the reconciler asks of the admission policy check.
type AdmissionCheck interface {
	// Problem is "" while the policies are in force, otherwise why they are not.
	Problem() string
	// Since is the first second from which the policies have been in force without a break,
	// as far as anyone can tell: the latest creation of the objects found, or the second after
	// the check that found them back after a gap. A stamp older than that may have been typed
	// by hand while they were not.
	Since() time.Time
	// CheckedAfter makes sure a check that found the policies in force started at or after
	// t (checking now if none did), and returns "" if so, else why they are not in force. A
	// stamp dated t is trusted only then: a policy deleted after the last check could have
	// let it be typed by hand.
	CheckedAfter(ctx context.Context, t time.Time) string
	// Missing is true when the last check found the policies missing, changed or not
	// enforced, as opposed to not being able to tell (the API server unreachable, a start):
	// only then is an approval seen on a cart remembered as one anyone could have typed.
	Missing() bool
}

// problemNotChecked is the state before the first check ends.
const problemNotChecked = "the manager has not checked them yet"

// Problem is "" while the policies are in force, otherwise why they are not.
func (p *AdmissionPolicies) Problem() string {
	if v := p.problem.Load(); v != nil {
		return *v
	}
	return problemNotChecked
}

// NeedLeaderElection is false: every replica keeps its own view, so a new leader does not start
// buying before its first check.
func (p *AdmissionPolicies) NeedLeaderElection() bool { return false }

// Start checks at once, then every Interval, until ctx ends.
func (p *AdmissionPolicies) Start(ctx context.Context) error {
	interval := p.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	for {
		problem := p.checkAndRecord(ctx)
		wait := interval
		if problem != "" {
			wait = max(interval/10, time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// checkAndRecord runs one check and records it.
func (p *AdmissionPolicies) checkAndRecord(ctx context.Context) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkLocked(ctx)
}

func (p *AdmissionPolicies) checkLocked(ctx context.Context) string {
	started := time.Now()
	problem := p.Check(ctx)
	p.record(problem)
	if problem == "" {
		p.checkedAt = started
	}
	return problem
}

// CheckedAfter implements AdmissionCheck. Carts approved in the same moment share one check:
// those that waited for the lock find it done.
func (p *AdmissionPolicies) CheckedAfter(ctx context.Context, t time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Problem() == "" && !p.checkedAt.Before(t) {
		return ""
	}
	if problem := p.checkLocked(ctx); problem != "" || !p.checkedAt.Before(t) {
		return problem
	}
	// Stamped in the very second this check began (an approval reconciled at once), or the
	// API server's clock is a little ahead of ours: check again once that second is over,
	// rather than send the cart away. A stamp further ahead was typed; a later check decides.
	if wait := time.Until(t); wait <= approvalClockSkew+time.Second {
		select {
		case <-ctx.Done():
			return ctx.Err().Error()
		case <-time.After(wait):
		}
		if problem := p.checkLocked(ctx); problem != "" || !p.checkedAt.Before(t) {
			return problem
		}
	}
	return fmt.Sprintf("a stamp dated %s is newer than the latest check of the admission policies", t.Add(-time.Second).UTC().Format(time.RFC3339))
}

// record keeps the result of a check, and says so when it changes. It runs in one goroutine.
func (p *AdmissionPolicies) record(problem string) {
	old := p.problem.Swap(&problem)
	p.missing.Store(problem != "" && !p.undecided)
	if problem == "" && old != nil && *old != "" && *old != problemNotChecked {
		// A stamp typed in the gap may carry the very second the policies came back.
		p.back = time.Now().UTC().Truncate(time.Second).Add(time.Second)
	}
	since := p.created
	if p.back.After(since) {
		since = p.back
	}
	p.since.Store(&since)
	admissionPoliciesInForce.Set(boolGauge(problem == ""))
	if old != nil && *old == problem {
		return
	}
	if problem == "" {
		p.Log.Info("The approval admission policies are in force: checkouts may start")
		return
	}
	p.Log.Error(errors.New(problem), "The approval admission policies are not in force: no checkout starts until they are (docs/operations.md#admission-policies)")
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Check returns "" when every policy of config/policy is installed with the same rules, bound
// without narrowing, and enforced; otherwise what is wrong.
func (p *AdmissionPolicies) Check(ctx context.Context) string {
	p.undecided = false
	want, err := expectedPolicies()
	if err != nil {
		return err.Error()
	}
	created := time.Time{}
	seen := func(o metav1.Object) {
		if t := o.GetCreationTimestamp().Time; t.After(created) {
			created = t
		}
	}
	defer func() { p.created = created }()
	var vaps admissionv1.ValidatingAdmissionPolicyList
	var vapBindings admissionv1.ValidatingAdmissionPolicyBindingList
	var maps admissionv1.MutatingAdmissionPolicyList
	var mapBindings admissionv1.MutatingAdmissionPolicyBindingList
	for _, list := range []client.ObjectList{&vaps, &vapBindings, &maps, &mapBindings} {
		if err := p.Client.List(ctx, list); err != nil {
			p.undecided = true
			return fmt.Sprintf("cannot list %T (is the MutatingAdmissionPolicy API served? it is GA in Kubernetes 1.36): %v", list, err)
		}
	}
	for _, w := range want.validating {
		i := slices.IndexFunc(vaps.Items, func(v admissionv1.ValidatingAdmissionPolicy) bool { return sameValidating(&v, &w) })
		if i < 0 {
			return fmt.Sprintf("ValidatingAdmissionPolicy %s is not installed as config/policy has it (missing or changed)", w.Name)
		}
		name := vaps.Items[i].Name
		seen(&vaps.Items[i])
		j := slices.IndexFunc(vapBindings.Items, func(b admissionv1.ValidatingAdmissionPolicyBinding) bool {
			return b.Spec.PolicyName == name && b.Spec.ParamRef == nil && unnarrowed(b.Spec.MatchResources) &&
				slices.Contains(b.Spec.ValidationActions, admissionv1.Deny)
		})
		if j >= 0 {
			seen(&vapBindings.Items[j])
		} else {
			return fmt.Sprintf("ValidatingAdmissionPolicy %s has no binding that denies, for every object", name)
		}
	}
	for _, w := range want.mutating {
		i := slices.IndexFunc(maps.Items, func(m admissionv1.MutatingAdmissionPolicy) bool { return sameMutating(&m, &w) })
		if i < 0 {
			return fmt.Sprintf("MutatingAdmissionPolicy %s is not installed as config/policy has it (missing or changed)", w.Name)
		}
		name := maps.Items[i].Name
		seen(&maps.Items[i])
		j := slices.IndexFunc(mapBindings.Items, func(b admissionv1.MutatingAdmissionPolicyBinding) bool {
			return b.Spec.PolicyName == name && b.Spec.ParamRef == nil && unnarrowed(b.Spec.MatchResources)
		})
		if j >= 0 {
			seen(&mapBindings.Items[j])
		} else {
			return fmt.Sprintf("MutatingAdmissionPolicy %s has no binding for every object", name)
		}
	}
	return p.probe(ctx)
}

// probe dry-runs three creations, as testenv.WaitForPolicy does: the requester stamps (of the
// purchase and of a cancellation) must replace forged ones (the mutating policies run), and
// forged approver stamps must be refused (the validating policies run).
func (p *AdmissionPolicies) probe(ctx context.Context) string {
	const forged = "admission-probe-forged"
	cart := probeCart(p.Namespace)
	cart.Spec.Approval.RequestedBy = forged
	cart.Spec.Cancellation = &pcv1alpha1.Cancellation{Requested: true, RequestedBy: forged}
	if err := p.Client.Create(ctx, cart, client.DryRunAll); err != nil {
		p.undecided = true
		return fmt.Sprintf("a dry-run PartnerCart in namespace %s was refused: %v", p.Namespace, err)
	}
	if by := cart.Spec.Approval.RequestedBy; by == forged || by == "" {
		return "the API server did not stamp spec.approval.requestedBy on a dry-run PartnerCart: the mutating policies are not in force"
	}
	if c := cart.Spec.Cancellation; c == nil || c.RequestedBy == forged || c.RequestedBy == "" {
		return "the API server did not stamp spec.cancellation.requestedBy on a dry-run PartnerCart: the mutating policies are not in force"
	}
	for _, forge := range []struct {
		field string
		set   func(*pcv1alpha1.PartnerCart)
	}{
		{"spec.approval.approvedBy", func(c *pcv1alpha1.PartnerCart) { c.Spec.Approval.ApprovedBy = forged }},
		{"spec.cancellation.approvedBy", func(c *pcv1alpha1.PartnerCart) {
			c.Spec.Cancellation = &pcv1alpha1.Cancellation{Requested: true, ApprovedBy: forged}
		}},
	} {
		cart = probeCart(p.Namespace)
		forge.set(cart)
		switch err := p.Client.Create(ctx, cart, client.DryRunAll); {
		case err == nil:
			return "the API server accepted a dry-run PartnerCart with a hand-written " + forge.field + ": the validating policy is not in force"
		case !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
			p.undecided = true
			return fmt.Sprintf("the forged-stamp probe failed: %v", err)
		}
	}
	return ""
}

func probeCart(namespace string) *pcv1alpha1.PartnerCart {
	return &pcv1alpha1.PartnerCart{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "admission-probe-"},
		Spec: pcv1alpha1.PartnerCartSpec{
			CustomerID:           "00000000-0000-4000-8000-000000000000",
			CredentialsSecretRef: &pcv1alpha1.SecretReference{Name: "admission-probe"},
			LineItems: []pcv1alpha1.CartLineItem{{LineItemFields: pcv1alpha1.LineItemFields{
				CatalogItemID: "ADMISSION-PROBE:0001:0001", Quantity: 1, BillingCycle: pcv1alpha1.BillingCycleMonthly}}},
		},
	}
}

// unnarrowed is true when a binding applies its policy to everything the policy matches.
func unnarrowed(m *admissionv1.MatchResources) bool {
	if m == nil {
		return true
	}
	empty := func(s *metav1.LabelSelector) bool {
		return s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0)
	}
	return empty(m.NamespaceSelector) && empty(m.ObjectSelector) && len(m.ResourceRules) == 0 && len(m.ExcludeResourceRules) == 0
}

func sameValidating(got, want *admissionv1.ValidatingAdmissionPolicy) bool {
	g, w := got.Spec, want.Spec
	return sameFailurePolicy(g.FailurePolicy, w.FailurePolicy) && sameConstraints(g.MatchConstraints, w.MatchConstraints) &&
		apiequality.Semantic.DeepEqual(g.Validations, w.Validations) && apiequality.Semantic.DeepEqual(g.Variables, w.Variables) &&
		apiequality.Semantic.DeepEqual(g.MatchConditions, w.MatchConditions) && g.ParamKind == nil
}

func sameMutating(got, want *admissionv1.MutatingAdmissionPolicy) bool {
	g, w := got.Spec, want.Spec
	return sameFailurePolicy(g.FailurePolicy, w.FailurePolicy) && sameConstraints(g.MatchConstraints, w.MatchConstraints) &&
		apiequality.Semantic.DeepEqual(g.Mutations, w.Mutations) && apiequality.Semantic.DeepEqual(g.Variables, w.Variables) &&
		apiequality.Semantic.DeepEqual(g.MatchConditions, w.MatchConditions) && g.ParamKind == nil
}

func sameFailurePolicy(got, want *admissionv1.FailurePolicyType) bool {
	return got != nil && want != nil && *got == *want
}

// sameConstraints compares what a policy matches, ignoring what the API server defaults.
func sameConstraints(got, want *admissionv1.MatchResources) bool {
	if got == nil || want == nil || !unnarrowed(&admissionv1.MatchResources{
		NamespaceSelector: got.NamespaceSelector, ObjectSelector: got.ObjectSelector, ExcludeResourceRules: got.ExcludeResourceRules}) {
		return false
	}
	rules := func(m *admissionv1.MatchResources) []admissionv1.RuleWithOperations {
		out := make([]admissionv1.RuleWithOperations, 0, len(m.ResourceRules))
		for _, r := range m.ResourceRules {
			out = append(out, admissionv1.RuleWithOperations{Operations: r.Operations, Rule: admissionv1.Rule{
				APIGroups: r.APIGroups, APIVersions: r.APIVersions, Resources: r.Resources}})
		}
		return out
	}
	return apiequality.Semantic.DeepEqual(rules(got), rules(want))
}

type policies struct {
	validating []admissionv1.ValidatingAdmissionPolicy
	mutating   []admissionv1.MutatingAdmissionPolicy
}

// expectedPolicies reads the embedded config/policy files.
func expectedPolicies() (policies, error) {
	var out policies
	err := fs.WalkDir(policy.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := policy.Files.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("read embedded %s: %w", path, err)
			}
			var target any
			switch u.GetKind() {
			case "ValidatingAdmissionPolicy":
				out.validating = append(out.validating, admissionv1.ValidatingAdmissionPolicy{})
				target = &out.validating[len(out.validating)-1]
			case "MutatingAdmissionPolicy":
				out.mutating = append(out.mutating, admissionv1.MutatingAdmissionPolicy{})
				target = &out.mutating[len(out.mutating)-1]
			default:
				continue
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, target); err != nil {
				return fmt.Errorf("read embedded %s: %w", path, err)
			}
		}
	})
	if err == nil && (len(out.validating) == 0 || len(out.mutating) == 0) {
		err = errors.New("no admission policy embedded")
	}
	return out, err
}

// approvalClockSkew is how far the API server's clock (a stamp) may run ahead of ours. A stamp
// further ahead was typed by hand, and is never taken.
const approvalClockSkew = 5 * time.Second
