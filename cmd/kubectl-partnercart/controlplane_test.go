package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// TestAgainstControlPlane runs the plugin, through a kubeconfig and `--as`, against the local
// kube-apiserver with the CRD, the approval admission policies and the shipped roles: an editor
// cannot approve, an approver can, and the policy records who did.
func TestAgainstControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx := context.Background()
	e, err := testenv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	for _, f := range []string{"partnercart_editor_role.yaml", "partnercart_approver_role.yaml"} {
		if err := testenv.ApplyFile(ctx, e.Client, filepath.Join(testenv.RepoRoot(), "config", "rbac", f)); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	admin, err := e.AddUser(envtest.User{Name: "plugin-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}

	const ns = "plugin"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	for _, b := range []struct{ role, user string }{{"editor-role", "alice"}, {"editor-role", "bob"}, {"approver", "bob"}} {
		must(e.Client.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: b.role + "-"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: b.user}},
		}))
	}

	// alice asks for the cart; the operator (here: the test) quoted it.
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}
	alice, err := client.New(cfg, client.Options{Scheme: e.Scheme})
	must(err)
	cart := awaiting()
	cart.Namespace = ns
	cart.Spec.CustomerID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	cart.Spec.CredentialsSecretRef = &pcv1alpha1.SecretReference{Name: "partner-center"}
	cart.Spec.Approval = pcv1alpha1.Approval{}
	st := cart.Status
	cart.Status = pcv1alpha1.PartnerCartStatus{}
	cart.CreationTimestamp = metav1.Time{}
	must(alice.Create(ctx, cart))
	cart.Status = st
	cart.Status.ObservedGeneration = cart.Generation
	cart.Status.Conditions[0].LastTransitionTime = metav1.Now()
	must(e.Client.Status().Update(ctx, cart))

	plugin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		pe := &env{out: &out, errOut: &errOut, newClient: kubeClient}
		err := pe.run(ctx, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...))
		return out.String() + errOut.String(), err
	}

	out, err := plugin("--as", "alice", "approve", "contoso-m365")
	if err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("an editor approved: %v\n%s", err, out)
	}
	out, err = plugin("quote", "contoso-m365", "--as", "bob")
	must(err)
	for _, want := range []string{"Approval:             not approved; requested by alice\n", "TOTAL         4680.00  USD\n", "Quote:                for the current spec\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("quote lacks %q:\n%s", want, out)
		}
	}
	t.Logf("kubectl partnercart quote contoso-m365:\n%s", out)

	// A GitOps approval: the manifest is edited, pinned to the live cart's hash; the cluster
	// is not changed.
	manifest := filepath.Join(t.TempDir(), "cart.yaml")
	must(os.WriteFile(manifest, []byte("# contoso\napiVersion: partnercenter.partnercart.dev/v1alpha1\nkind: PartnerCart\nmetadata:\n  name: contoso-m365\nspec:\n  customerId: "+
		cart.Spec.CustomerID+"  # Contoso\n  lineItems: []\n"), 0o600))
	out, err = plugin("--as", "bob", "approve", "--file", manifest, "--max-total", "5000")
	must(err)
	if b, _ := os.ReadFile(manifest); !strings.Contains(string(b), "spec:\n  approval:\n    approved: true\n    specHash: "+hash+"\n    maxTotalPrice: \"5000\"\n  customerId: ") {
		t.Errorf("approve --file:\n%s\n%s", out, b)
	}
	out, err = plugin("--as", "bob", "approve", "contoso-m365", "--print-patch")
	must(err)
	t.Logf("kubectl partnercart approve contoso-m365 --print-patch:\n%s", out)
	out, err = plugin("--as", "bob", "approve", "contoso-m365", "--max-total", "5000")
	must(err)
	if want := "partnercart plugin/contoso-m365 approved (pinned to " + hash + ", quoted 4680.00 USD, max total 5000, by bob)\n"; out != want {
		t.Errorf("approve output %q, want %q", out, want)
	}
	var got pcv1alpha1.PartnerCart
	must(e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "contoso-m365"}, &got))
	a := got.Spec.Approval
	if !a.Approved || a.SpecHash != hash || a.MaxTotalPrice != "5000" || a.ApprovedBy != "bob" || a.RequestedBy != "alice" || a.ApprovedAt == "" {
		t.Errorf("approval after the plugin: %+v", a)
	}
	out, err = plugin("--as", "bob", "get")
	must(err)
	if !strings.Contains(out, "yes (pinned) by bob max 5000") {
		t.Errorf("get:\n%s", out)
	}
	out, err = plugin("--as", "bob", "get", "-o", "wide")
	must(err)
	if !strings.Contains(out, "REASON") || !strings.Contains(out, "MESSAGE") {
		t.Errorf("get -o wide:\n%s", out)
	}

	// bob denies, then approves again (the approval changed the spec: without the operator
	// to quote it again, the quote is stale, hence --force).
	out, err = plugin("--as", "bob", "deny", "contoso-m365", "--reason", "over budget")
	must(err)
	must(e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "contoso-m365"}, &got))
	if a := got.Spec.Approval; a.Approved || !a.Denied || a.Reason != "over budget" {
		t.Errorf("approval after deny: %+v\n%s", a, out)
	}
	out, err = plugin("--as", "bob", "approve", "contoso-m365")
	if err == nil || !strings.Contains(err.Error(), "the quote is stale") {
		t.Errorf("approve of a cart whose quote is stale: %v\n%s", err, out)
	}
	out, err = plugin("--as", "bob", "approve", "contoso-m365", "--force")
	must(err)
	must(e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "contoso-m365"}, &got))
	if a := got.Spec.Approval; !a.Approved || a.Denied || a.Reason != "" || a.ApprovedBy != "bob" || !strings.Contains(out, "denial cleared") {
		t.Errorf("approval after approving a denied cart: %+v\n%s", a, out)
	}

	// alice, an editor, pauses and resumes.
	for _, cmd := range []string{"pause", "resume"} {
		out, err = plugin("--as", "alice", cmd, "contoso-m365")
		must(err)
		must(e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "contoso-m365"}, &got))
		if _, paused := got.Annotations[pcv1alpha1.PausedAnnotation]; paused != (cmd == "pause") {
			t.Errorf("%s: annotations %v\n%s", cmd, got.Annotations, out)
		}
	}
	out, err = plugin("--as", "bob", "wait", "contoso-m365", "--for=condition=Approved=False", "--timeout=10s")
	must(err)
	if out != "partnercart plugin/contoso-m365 condition met (condition Approved=False)\n" {
		t.Errorf("wait: %q", out)
	}

	out, err = plugin("receipts", "-A")
	must(err)
	if out != "No receipts found.\n" {
		t.Errorf("receipts: %q", out)
	}
}
