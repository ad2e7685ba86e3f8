package controller

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// kstatusOf computes what Flux, Argo CD and kstatus-based tools make of a cart.
func kstatusOf(t *testing.T, cart *pcv1alpha1.PartnerCart) status.Status {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cart)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return kstatusOfUnstructured(t, &unstructured.Unstructured{Object: obj})
}

func kstatusOfUnstructured(t *testing.T, u *unstructured.Unstructured) status.Status {
	t.Helper()
	res, err := status.Compute(u)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// TestKstatus: GitOps tools read a cart's health through kstatus. A cart nobody has looked at
// yet is in progress (observedGeneration defaults to -1, not Current as it was without the
// default); it stays in progress while it syncs, waits for approval or provisions, is Current
// once every order completed, and Failed when stalled (line-item errors, an unknown checkout).
func TestKstatus(t *testing.T) {
	states := capturedGitopsStates(t)
	for _, s := range gitopsStates {
		t.Run(s.name, func(t *testing.T) {
			g := NewWithT(t)
			obj := states[s.name]
			requireGitopsContract(t, s.name, obj)
			g.Expect(kstatusOfUnstructured(t, obj)).To(Equal(s.kstatus))
			observed, found, err := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(found).To(BeTrue(), "status.observedGeneration is always served")
			if s.name == "created" {
				g.Expect(observed).To(Equal(int64(-1)), "the CRD default before the operator writes status")
			} else {
				g.Expect(observed).To(Equal(obj.GetGeneration()), "the operator stamps the generation it reconciled")
			}
		})
	}
}

// TestKstatusTypedCart: the typed client sees the default too, and writing it back keeps it.
func TestKstatusTypedCart(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	cart := newCart(ns, "typed")
	g.Expect(env.Client.Create(t.Context(), cart)).To(Succeed())
	g.Expect(cart.Status.ObservedGeneration).To(Equal(int64(-1)), "the create answer carries the default")
	g.Expect(kstatusOf(t, cart)).To(Equal(status.InProgressStatus))
}

// fluxHealthCheck is one entry of a Flux Kustomization's spec.healthCheckExprs.
type fluxHealthCheck struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	InProgress string `json:"inProgress"`
	Failed     string `json:"failed"`
	Current    string `json:"current"`
}

// fluxHealthChecksFromDocs reads the PartnerCart entry of the Kustomization in docs/gitops.md,
// so that the documented expressions are the tested ones.
func fluxHealthChecksFromDocs(t *testing.T) fluxHealthCheck {
	t.Helper()
	g := NewWithT(t)
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "gitops.md"))
	g.Expect(err).NotTo(HaveOccurred())
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1) {
		if !bytes.Contains(m[1], []byte("kind: Kustomization")) || !bytes.Contains(m[1], []byte("healthCheckExprs")) {
			continue
		}
		var k struct {
			Spec struct {
				HealthCheckExprs []fluxHealthCheck `json:"healthCheckExprs"`
			} `json:"spec"`
		}
		g.Expect(yaml.Unmarshal(m[1], &k)).To(Succeed())
		for _, h := range k.Spec.HealthCheckExprs {
			if h.Kind == "PartnerCart" {
				g.Expect(h.APIVersion).To(Equal(pcv1alpha1.GroupVersion.String()))
				return h
			}
		}
	}
	t.Fatal("docs/gitops.md has no Flux Kustomization with healthCheckExprs for PartnerCart")
	return fluxHealthCheck{}
}

// fluxStatus evaluates healthCheckExprs as Flux's kustomize-controller does (fluxcd/pkg
// runtime/cel, RFC-0009): InProgress while status.observedGeneration differs from
// metadata.generation; then inProgress, failed, current in that order, the first true one
// wins; InProgress when none is. The CEL environment has Flux's options and libraries.
func fluxStatus(t *testing.T, h fluxHealthCheck, u *unstructured.Unstructured) status.Status {
	t.Helper()
	g := NewWithT(t)
	observed, ok, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	g.Expect(err).NotTo(HaveOccurred())
	if ok && observed != u.GetGeneration() {
		return status.InProgressStatus
	}
	celEnv, err := cel.NewEnv(cel.HomogeneousAggregateLiterals(), cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true), cel.CrossTypeNumericComparisons(true), cel.OptionalTypes(),
		ext.Strings(), ext.Sets(), ext.Encoders())
	g.Expect(err).NotTo(HaveOccurred())
	for _, e := range []struct {
		expr string
		st   status.Status
	}{{h.InProgress, status.InProgressStatus}, {h.Failed, status.FailedStatus}, {h.Current, status.CurrentStatus}} {
		if e.expr == "" {
			continue
		}
		ast, iss := celEnv.Parse(e.expr)
		g.Expect(iss.Err()).NotTo(HaveOccurred(), e.expr)
		prg, err := celEnv.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
		g.Expect(err).NotTo(HaveOccurred())
		val, _, err := prg.ContextEval(context.Background(), u.Object)
		g.Expect(err).NotTo(HaveOccurred(), "Flux would report an evaluation error for %q", e.expr)
		b, isBool := val.(types.Bool)
		g.Expect(isBool).To(BeTrue(), "%q must be boolean", e.expr)
		if bool(b) {
			return e.st
		}
	}
	return status.InProgressStatus
}

// TestKstatusFluxHealthCheckExprs: with the documented healthCheckExprs, Flux reads a cart
// waiting for approval as Current (so `wait: true` and dependsOn do not time out on it), and
// every other state as kstatus does.
func TestKstatusFluxHealthCheckExprs(t *testing.T) {
	h := fluxHealthChecksFromDocs(t)
	states := capturedGitopsStates(t)
	for _, s := range gitopsStates {
		t.Run(s.name, func(t *testing.T) {
			requireGitopsContract(t, s.name, states[s.name])
			NewWithT(t).Expect(fluxStatus(t, h, states[s.name])).To(Equal(s.flux))
		})
	}
}
