package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"sigs.k8s.io/yaml"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// The states a cart waits in (for credentials, for Partner Center, for a person) and the
// approver's refusal, as docs/gitops.md's state table lists them. gitops_states_test.go keeps
// them in gitopsStates with the other states; here they are driven and their contract checked.

// gitopsContracts says, for the states a cart waits in and the approver's refusal, what a
// captured cart must show to be that state: the generation observed whatever the cart waits
// for or retries, Reconciling=True with the reason while it retries, Ready=False Paused and
// nothing else while paused, Stalled=True Denied when denied. The live tests fail on a cart
// that does not meet it, and the objects of testdata/ are captured from those carts.
var gitopsContracts = map[string]func(*unstructured.Unstructured) error{
	"waiting-account-not-found":   contractRetrying(pcv1alpha1.AccountNotFoundReason),
	"waiting-invalid-credentials": contractRetrying(pcv1alpha1.InvalidCredentialsReason),
	"waiting-secret-not-found":    contractRetrying(pcv1alpha1.CredentialsSecretNotFoundReason),
	"throttled":                   contractRetrying(pcv1alpha1.ThrottledReason),
	"upstream-unavailable":        contractRetrying(pcv1alpha1.UpstreamUnavailableReason),
	"paused":                      contractWaitingForPerson(pcv1alpha1.PausedReason),
	"paused-provisioning":         contractWaitingForPerson(pcv1alpha1.PausedReason),
	"purchase-frozen":             contractWaitingForPerson(pcv1alpha1.PurchaseFrozenReason),
	"denied":                      contractStalled(pcv1alpha1.DeniedReason),
}

// requireGitopsContract fails a live subtest whose captured cart does not show the state as
// docs/gitops.md describes it.
func requireGitopsContract(t *testing.T, name string, obj *unstructured.Unstructured) {
	t.Helper()
	check, ok := gitopsContracts[name]
	if !ok {
		return
	}
	if err := check(obj); err != nil {
		t.Fatalf("the reconciler does not produce state %q as docs/gitops.md describes it: %v", name, err)
	}
}

func conditionOf(obj *unstructured.Unstructured, condType string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == condType {
			return m
		}
	}
	return nil
}

func generationObserved(obj *unstructured.Unstructured) error {
	observed, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if observed != obj.GetGeneration() {
		return fmt.Errorf("status.observedGeneration %d, metadata.generation %d", observed, obj.GetGeneration())
	}
	return nil
}

func expectCondition(obj *unstructured.Unstructured, condType, status, reason string) error {
	c := conditionOf(obj, condType)
	switch {
	case c == nil && status == "":
		return nil
	case c == nil:
		return fmt.Errorf("no %s condition", condType)
	case status == "":
		return fmt.Errorf("%s=%v %v, expected none", condType, c["status"], c["reason"])
	case c["status"] != status || (reason != "" && c["reason"] != reason):
		return fmt.Errorf("%s=%v %v, expected %s %s", condType, c["status"], c["reason"], status, reason)
	}
	return nil
}

func allOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// contractRetrying: the generation is observed, Reconciling=True and Ready=False carry the reason.
func contractRetrying(reason string) func(*unstructured.Unstructured) error {
	return func(obj *unstructured.Unstructured) error {
		return allOf(generationObserved(obj),
			expectCondition(obj, pcv1alpha1.ReconcilingCondition, "True", reason),
			expectCondition(obj, pcv1alpha1.ReadyCondition, "False", reason),
			expectCondition(obj, pcv1alpha1.StalledCondition, "", ""))
	}
}

// contractWaitingForPerson: the generation is observed, Ready=False with the reason, neither
// Reconciling nor Stalled.
func contractWaitingForPerson(reason string) func(*unstructured.Unstructured) error {
	return func(obj *unstructured.Unstructured) error {
		return allOf(generationObserved(obj),
			expectCondition(obj, pcv1alpha1.ReadyCondition, "False", reason),
			expectCondition(obj, pcv1alpha1.ReconcilingCondition, "", ""),
			expectCondition(obj, pcv1alpha1.StalledCondition, "", ""))
	}
}

// contractStalled: the generation is observed, Stalled=True with the reason, phase Failed.
func contractStalled(reason string) func(*unstructured.Unstructured) error {
	return func(obj *unstructured.Unstructured) error {
		phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
		if phase != string(pcv1alpha1.PhaseFailed) {
			return fmt.Errorf("phase %q, expected Failed", phase)
		}
		return allOf(generationObserved(obj), expectCondition(obj, pcv1alpha1.StalledCondition, "True", reason))
	}
}

func withAnnotation(key, value string) cartOption {
	return func(c *pcv1alpha1.PartnerCart) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[key] = value
	}
}

// captureWaitingStates drives carts into the waiting states with pcsim and the manager: a
// namespace whose Secret is missing (and another Secret lacking a key, and an account that does
// not exist), a Partner Center that throttles or fails every call, a manager with
// --purchase-freeze, a paused cart, a cart paused while its orders provision (on slow, whose
// orders take an hour) and a denied cart.
func captureWaitingStates(t *testing.T, read func(ns, name string) *unstructured.Unstructured, o, slow *operator) map[string]*unstructured.Unstructured {
	g := NewWithT(t)
	const wait = 30 * time.Second

	creds := startOperator(t, operatorOptions{noSecret: true})
	creds.create("waiting-secret-not-found")
	g.Expect(env.Client.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: creds.ns, Name: "lacks-a-key"},
		StringData: map[string]string{pcv1alpha1.SecretKeyTenantID: testTenant, pcv1alpha1.SecretKeyClientID: testClientID},
	})).To(Succeed())
	creds.create("waiting-invalid-credentials", func(c *pcv1alpha1.PartnerCart) { c.Spec.CredentialsSecretRef.Name = "lacks-a-key" })
	creds.create("waiting-account-not-found", func(c *pcv1alpha1.PartnerCart) {
		c.Spec.CredentialsSecretRef = nil
		c.Spec.AccountRef = &pcv1alpha1.AccountReference{Name: "no-such-account-" + creds.ns}
	})

	throttled := startOperator(t, operatorOptions{sim: pcsim.Options{Faults: pcsim.Faults{ThrottleRate: 1, RetryAfter: time.Second}}})
	throttled.create("throttled")
	failing := startOperator(t, operatorOptions{sim: pcsim.Options{Faults: pcsim.Faults{FailRate: 1}}})
	failing.create("upstream-unavailable")
	frozen := startOperator(t, operatorOptions{reconciler: Options{PurchaseFreeze: true}})
	frozen.create("purchase-frozen", withApproved())

	o.create("paused", withAnnotation(pcv1alpha1.PausedAnnotation, "true"))
	o.create("denied", func(c *pcv1alpha1.PartnerCart) {
		c.Spec.Approval.Denied = true
		c.Spec.Approval.Reason = "Contoso buys E5 through its enterprise agreement"
	})

	slow.create("paused-provisioning", withApproved())
	slow.eventually("paused-provisioning", wait).Should(havePhase(pcv1alpha1.PhaseProvisioning))
	slow.touch("paused-provisioning", withAnnotation(pcv1alpha1.PausedAnnotation, "true"))

	// Each cart is waited for until it shows its reason; the paused and the denied cart, which
	// a reconciler without the annotation and the field leaves waiting for approval, until
	// either.
	reason := func(condType string) func(*operator, string) string {
		return func(op *operator, name string) string { return conditionReason(op.get(name), condType) }
	}
	for _, w := range []struct {
		op     *operator
		name   string
		get    func(*operator, string) string
		expect []string
	}{
		{creds, "waiting-secret-not-found", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.CredentialsSecretNotFoundReason}},
		{creds, "waiting-invalid-credentials", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.InvalidCredentialsReason}},
		{creds, "waiting-account-not-found", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.AccountNotFoundReason}},
		{throttled, "throttled", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.ThrottledReason}},
		{failing, "upstream-unavailable", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.UpstreamUnavailableReason}},
		{frozen, "purchase-frozen", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.PurchaseFrozenReason}},
		{o, "paused", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.PausedReason, pcv1alpha1.WaitingForApprovalReason}},
		{o, "denied", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.DeniedReason, pcv1alpha1.WaitingForApprovalReason}},
		{slow, "paused-provisioning", reason(pcv1alpha1.ReadyCondition), []string{pcv1alpha1.PausedReason, pcv1alpha1.OrdersProvisioningReason}},
	} {
		g.Eventually(func() string { return w.get(w.op, w.name) }).WithTimeout(wait).WithPolling(50*time.Millisecond).
			Should(BeElementOf(w.expect), w.name)
	}

	out := map[string]*unstructured.Unstructured{}
	for _, name := range []string{"waiting-secret-not-found", "waiting-invalid-credentials", "waiting-account-not-found"} {
		out[name] = read(creds.ns, name)
	}
	out["throttled"] = read(throttled.ns, "throttled")
	out["upstream-unavailable"] = read(failing.ns, "upstream-unavailable")
	out["purchase-frozen"] = read(frozen.ns, "purchase-frozen")
	out["paused"] = read(o.ns, "paused")
	out["denied"] = read(o.ns, "denied")
	out["paused-provisioning"] = read(slow.ns, "paused-provisioning")
	return out
}

// TestGitopsStatesTestdata runs kstatus, the Flux expressions of docs/gitops.md and health.lua
// on the objects of testdata/ (captured from the live tests): every state of the table gets
// what the table says from each tool, and each object meets its contract. Unlike the live tests it needs no control plane.
func TestGitopsStatesTestdata(t *testing.T) {
	script := readHealthScript(t)
	h := fluxHealthChecksFromDocs(t)
	for _, s := range gitopsStates {
		t.Run(s.name, func(t *testing.T) {
			g := NewWithT(t)
			raw, err := os.ReadFile(filepath.Join(argoCDCustomization(), "testdata", s.name+".yaml"))
			g.Expect(err).NotTo(HaveOccurred())
			js, err := yaml.YAMLToJSON(raw)
			g.Expect(err).NotTo(HaveOccurred())
			obj := &unstructured.Unstructured{}
			g.Expect(obj.UnmarshalJSON(js)).To(Succeed())
			if check := gitopsContracts[s.name]; check != nil {
				g.Expect(check(obj)).To(Succeed(), "testdata/%s.yaml meets the contract", s.name)
			}
			g.Expect(kstatusOfUnstructured(t, obj)).To(Equal(s.kstatus), "kstatus")
			g.Expect(fluxStatus(t, h, obj)).To(Equal(s.flux), "Flux")
			argo := runArgoCDHealth(t, script, obj.Object)
			g.Expect(argo.Status).To(Equal(s.argo), "Argo CD")
			g.Expect(argo.Message).To(Equal(expectedArgoMessage(obj)))
			if s.name != "created" {
				g.Expect(argo.Message).NotTo(HavePrefix("Waiting for the operator"),
					"a generation the operator reconciled is explained by its conditions")
			}
		})
	}
}
