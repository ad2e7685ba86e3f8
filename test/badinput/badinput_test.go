package badinput

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// env is the real API server (with the CRD and the admission policy), started once in TestMain.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.RunMain(m, func(e *testenv.Env) { env = e }))
}

// minCases is the size the corpus must keep: deleting manifests must not go unnoticed.
const (
	minCases             = 40
	minPostCheckoutCases = 10
)

// strict is what kubectl apply sends: unknown or duplicate fields are errors, not warnings.
var strict = client.FieldValidation(metav1.FieldValidationStrict)

// manifest is one file of the corpus.
type manifest struct {
	path   string
	expect string // from the "# expect:" header; empty for controls
	obj    *unstructured.Unstructured
}

func (m manifest) name() string { return strings.TrimSuffix(filepath.Base(m.path), ".yaml") }

// loadDir reads every *.yaml of dir (not of its subdirectories), sorted by name.
func loadDir(t *testing.T, dir string, wantExpect bool) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []manifest
	for _, f := range files {
		if filepath.Base(f) == "base.yaml" {
			continue
		}
		m := load(t, f)
		if wantExpect && m.expect == "" {
			t.Fatalf("%s has no '# expect: <message>' header", f)
		}
		out = append(out, m)
	}
	return out
}

func load(t *testing.T, path string) manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := manifest{path: path}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(line, "#")), "expect:"); ok {
			m.expect = strings.TrimSpace(v)
		}
	}
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	obj := &unstructured.Unstructured{}
	if err := dec.Decode(&obj.Object); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if err := dec.Decode(&map[string]any{}); !errors.Is(err, io.EOF) {
		t.Fatalf("%s must hold exactly one object", path)
	}
	m.obj = obj
	return m
}

// newNamespace creates a fresh namespace, so no case sees another's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "badinput-"}}
	if err := env.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// TestBadInputIsRefused creates every manifest of the corpus and expects the API server to
// refuse it with a message containing the file's "# expect:" text, and to store nothing.
func TestBadInputIsRefused(t *testing.T) {
	cases := loadDir(t, ".", true)
	if len(cases) < minCases {
		t.Fatalf("the corpus has %d manifests, want at least %d", len(cases), minCases)
	}
	for _, m := range cases {
		t.Run(m.name(), func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			obj := m.obj.DeepCopy()
			obj.SetNamespace(newNamespace(t))
			err := env.Client.Create(t.Context(), obj, strict)
			g.Expect(err).To(HaveOccurred(), "%s was accepted; it must be refused with %q", m.path, m.expect)
			g.Expect(err.Error()).To(ContainSubstring(m.expect), "%s: refused for the wrong reason", m.path)
			g.Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(),
				"%s: a validation refusal is 422 Invalid (or 400 for strict field decoding), got %v", m.path, err)
			t.Logf("%s: %v", m.name(), err)

			got := m.obj.DeepCopy()
			err = env.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), got)
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing may be stored for a refused object, got %v", err)
		})
	}
}

// TestValidControlsAreAccepted proves the corpus tests the rules, not a schema that refuses
// everything: valid PartnerCarts using every field at its limit are accepted.
func TestValidControlsAreAccepted(t *testing.T) {
	controls := loadDir(t, "valid", false)
	if len(controls) == 0 {
		t.Fatal("no control manifests in valid/")
	}
	ns := newNamespace(t)
	for _, m := range controls {
		t.Run(m.name(), func(t *testing.T) {
			g := NewWithT(t)
			obj := m.obj.DeepCopy()
			obj.SetNamespace(ns)
			g.Expect(env.Client.Create(t.Context(), obj, strict)).To(Succeed(), "%s must be accepted", m.path)
			got := m.obj.DeepCopy()
			g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), got)).To(Succeed())
			g.Expect(got.Object["spec"]).To(HaveKeyWithValue("customerId", m.obj.Object["spec"].(map[string]any)["customerId"]))
		})
	}
}

// TestPostCheckoutEditsAreRefused: once status.checkout is set, the freeze-after-checkout
// ValidatingAdmissionPolicy refuses every change of the purchase content, and only that.
func TestPostCheckoutEditsAreRefused(t *testing.T) {
	g := NewWithT(t)
	refused := loadDir(t, "post-checkout", true)
	if len(refused) < minPostCheckoutCases {
		t.Fatalf("post-checkout/ has %d manifests, want at least %d", len(refused), minPostCheckoutCases)
	}
	allowed := loadDir(t, filepath.Join("post-checkout", "allowed"), false)
	base := load(t, filepath.Join("post-checkout", "base.yaml"))
	ns := newNamespace(t)

	// Before checkout the same edits are fine: the policy must match only checked-out carts.
	fresh := createCheckedOut(t, ns, base, "not-checked-out", false)
	g.Expect(applyEdit(t, fresh, refused[0])).To(Succeed(), "an edit before checkout must be accepted")

	cart := createCheckedOut(t, ns, base, "checked-out", true)

	// The policy is compiled and activated asynchronously after it is installed: wait until a
	// known-bad edit (one more seat on line 0) is refused, then assert each case.
	moreSeats := base.obj.DeepCopy()
	lines, _, _ := unstructured.NestedSlice(moreSeats.Object, "spec", "lineItems")
	lines[0].(map[string]any)["quantity"] = int64(26)
	g.Expect(unstructured.SetNestedSlice(moreSeats.Object, lines, "spec", "lineItems")).To(Succeed())
	g.Eventually(func() error {
		return applyEdit(t, cart, manifest{path: "one more seat", obj: moreSeats})
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).
		Should(MatchError(ContainSubstring("spec.lineItems is immutable after checkout")))

	for _, m := range refused {
		t.Run(m.name(), func(t *testing.T) {
			g := NewWithT(t)
			err := applyEdit(t, cart, m)
			g.Expect(err).To(HaveOccurred(), "%s was accepted after checkout; it must be refused with %q", m.path, m.expect)
			g.Expect(err.Error()).To(ContainSubstring(m.expect), "%s: refused for the wrong reason", m.path)
			g.Expect(err.Error()).To(ContainSubstring("freeze-after-checkout"), "%s: must be refused by the policy", m.path)
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%s: the policy's reason is Forbidden, got %v", m.path, err)
			t.Logf("%s: %v", m.name(), err)
		})
	}
	// Nothing slipped through: the stored spec is still the base's.
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(base.obj.GroupVersionKind())
	g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(cart), got)).To(Succeed())
	// The approval stamps are the admission policy's (config/policy/approval.yaml), not the manifest's.
	for _, stamp := range []string{"requestedBy", "approvedBy", "approvedAt"} {
		unstructured.RemoveNestedField(got.Object, "spec", "approval", stamp)
	}
	stored, err := json.Marshal(got.Object["spec"])
	g.Expect(err).NotTo(HaveOccurred())
	want, err := json.Marshal(withDefaults(base.obj.Object["spec"]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(stored).To(MatchJSON(want), "a refused edit must leave the stored spec unchanged")

	for _, m := range allowed {
		t.Run("allowed/"+m.name(), func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(applyEdit(t, cart, m)).To(Succeed(), "%s must still be accepted after checkout", m.path)
		})
	}
}

// withDefaults adds the API server's defaults to a spec read from a manifest.
func withDefaults(spec any) map[string]any {
	s := spec.(map[string]any)
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	if _, ok := out["deletionPolicy"]; !ok {
		out["deletionPolicy"] = "Orphan"
	}
	return out
}

// createCheckedOut creates the base cart under name and, if checkedOut, records a checkout in
// its status through the status subresource, as the operator does before calling Partner Center.
func createCheckedOut(t *testing.T, ns string, base manifest, name string, checkedOut bool) *unstructured.Unstructured {
	t.Helper()
	g := NewWithT(t)
	obj := base.obj.DeepCopy()
	obj.SetNamespace(ns)
	obj.SetName(name)
	g.Expect(env.Client.Create(t.Context(), obj, strict)).To(Succeed())
	if checkedOut {
		g.Expect(unstructured.SetNestedMap(obj.Object, map[string]any{
			"requestId": "3f2504e0-4f89-51d3-9a0c-0305e82c3301",
			"cartId":    "c1a2b3c4-0000-4000-8000-000000000001",
			"specHash":  "sha256:" + strings.Repeat("ab", 32),
			"startedAt": time.Now().UTC().Format(time.RFC3339),
		}, "status", "checkout")).To(Succeed())
		g.Expect(env.Client.Status().Update(t.Context(), obj)).To(Succeed())
		got := obj.DeepCopy()
		g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), got)).To(Succeed())
		_, found, _ := unstructured.NestedMap(got.Object, "status", "checkout")
		g.Expect(found).To(BeTrue(), "status.checkout must be stored")
	}
	return obj
}

// applyEdit replaces the live object's spec and labels with the manifest's and updates it.
func applyEdit(t *testing.T, live *unstructured.Unstructured, m manifest) error {
	t.Helper()
	obj := live.DeepCopy()
	if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(live), obj); err != nil {
		return err
	}
	obj.Object["spec"] = m.obj.DeepCopy().Object["spec"]
	obj.SetLabels(m.obj.GetLabels())
	return env.Client.Update(t.Context(), obj, strict)
}
