package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// manifestYAML is a GitOps manifest: comments, an unusual key order, a ConfigMap before the
// cart and a second cart after it.
const manifestYAML = `# Contoso's Microsoft 365 seats, reviewed in pull requests.
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes   # not a cart
data:
  approval: "not this one"
---
# The cart.
kind: PartnerCart
apiVersion: partnercenter.partnercart.dev/v1alpha1
metadata:
  name: contoso-m365
  namespace: team-a
spec:
  customerId: cust-1   # Contoso Ltd
  accountRef: {name: contoso-partner}
  lineItems:
  - id: 1
    catalogItemId: CFQ7TTC0LH18:0001:CFQ7TTC0K59J
    quantity: 10        # seats
    billingCycle: monthly
  approval:
    # Set by kubectl partnercart approve --file.
    approved: false     # not yet
    maxTotalPrice: '4000'
---
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCart
metadata:
  name: other
spec:
  customerId: cust-2
  approval: {}
  lineItems:
    - id: 1
      catalogItemId: X
      quantity: 1
      billingCycle: monthly
`

func writeManifest(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cart.yaml")
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestApproveFile: approve --file edits only the approval lines of the named cart, pinned to
// the live cart's spec hash, keeping comments, key order, quoting and the other documents.
func TestApproveFile(t *testing.T) {
	e, c, out, errOut := newEnv(t, awaiting(), account())
	path := writeManifest(t, manifestYAML)
	if err := run(t, e, "approve", "contoso-m365", "--file", path, "--max-total", "5000.00", "--reason", `CFO "ok" #123`); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(manifestYAML, `  approval:
    # Set by kubectl partnercart approve --file.
    approved: false     # not yet
    maxTotalPrice: '4000'
`, `  approval:
    specHash: `+hash+`
    reason: "CFO \"ok\" #123"
    # Set by kubectl partnercart approve --file.
    approved: true     # not yet
    maxTotalPrice: "5000.00"
`, 1)
	if got := readFile(t, path); got != want {
		t.Errorf("edited file:\n%s\nwant:\n%s", got, want)
	}
	if got := out.String(); got != path+": PartnerCart team-a/contoso-m365 approved (pinned to "+hash+", quoted 4680.00 USD, max total 5000.00); the API server stamps approvedBy and approvedAt when the change is applied\n" {
		t.Errorf("output %q", got)
	}
	if errOut.Len() != 0 {
		t.Errorf("warnings: %s", errOut)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("file mode: %v %v", info.Mode(), err)
	}
	if approval(t, c, "contoso-m365").Approved {
		t.Error("--file approved in the cluster")
	}

	// The other cart: approval: {} becomes a block; without a cluster, --spec-hash pins.
	e.newClient = func(*options) (client.Client, string, error) { return nil, "", errors.New("no route to host") }
	errOut.Reset()
	if err := run(t, e, "approve", "other", "--file", path); err == nil || !strings.Contains(err.Error(), "give --spec-hash") {
		t.Fatalf("approve --file without a cluster or --spec-hash: %v", err)
	}
	other := "sha256:" + strings.Repeat("3", 64)
	if err := run(t, e, "approve", "other", "--file", path, "--spec-hash", other); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(want, "  approval: {}\n", "  approval:\n    approved: true\n    specHash: "+other+"\n", 1)
	if got := readFile(t, path); got != want {
		t.Errorf("edited file:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(errOut.String(), "warning: PartnerCart default/other was not read from the cluster (no route to host)") {
		t.Errorf("no warning that the live cart was not read: %q", errOut)
	}
}

// TestApproveFileGuards: with the live cart readable, the same refusals as in the cluster
// apply and a refused edit leaves the file as it was.
func TestApproveFileGuards(t *testing.T) {
	stale := awaiting()
	stale.Status.Cart.SyncedSpecHash = "sha256:" + strings.Repeat("2", 64)
	e, _, _, errOut := newEnv(t, stale, account())
	path := writeManifest(t, manifestYAML)
	// The file's own limit (4000) is below the quote, and the quote is stale.
	err := run(t, e, "approve", "--file", path, "contoso-m365")
	if err == nil || !strings.Contains(err.Error(), "the quote is stale") ||
		!strings.Contains(err.Error(), "the cart's spec.approval.maxTotalPrice 4000 is below the quoted total 4680.00 USD") {
		t.Fatalf("refusal: %v", err)
	}
	if readFile(t, path) != manifestYAML {
		t.Fatal("a refused approval changed the file")
	}
	if err := run(t, e, "approve", "--file", path, "contoso-m365", "--spec-hash", "sha256:"+strings.Repeat("4", 64), "--force"); err == nil ||
		!strings.Contains(err.Error(), "is not the live cart's status.specHash") {
		t.Fatalf("a --spec-hash other than the live one: %v", err)
	}
	if err := run(t, e, "approve", "--file", path, "contoso-m365", "--force"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "warning: the quote is stale") || !strings.Contains(readFile(t, path), "approved: true     # not yet") {
		t.Errorf("--force: %s\n%s", errOut, readFile(t, path))
	}
	if err := run(t, e, "approve", "--file", path); err == nil || !strings.Contains(err.Error(), "the file holds 2 PartnerCarts (contoso-m365, other): name the one to edit") {
		t.Errorf("no NAME with two carts: %v", err)
	}
	if err := run(t, e, "approve", "--file", path, "fabrikam"); err == nil || !strings.Contains(err.Error(), `the file holds no PartnerCart "fabrikam"`) {
		t.Errorf("a cart not in the file: %v", err)
	}
}

// TestDenyFileAndApproveAgain: deny --file writes the denial; approve --file then clears it
// (denied false, the denial's reason removed) and pins; --pin=false removes the pin.
func TestDenyFileAndApproveAgain(t *testing.T) {
	e, _, out, _ := newEnv(t, awaiting())
	const single = `apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCart
metadata:
  name: contoso-m365   # the only cart
spec:
  customerId: cust-1
  lineItems:
  - id: 1
    catalogItemId: X
    quantity: 10
    billingCycle: monthly
`
	path := writeManifest(t, single)
	if err := run(t, e, "deny", "--file", path, "--reason", "not this quarter"); err != nil {
		t.Fatal(err)
	}
	denied := strings.Replace(single, "  customerId: cust-1\n", `  approval:
    approved: false
    denied: true
    reason: "not this quarter"
  customerId: cust-1
`, 1)
	if got := readFile(t, path); got != denied {
		t.Fatalf("denied file:\n%s\nwant:\n%s", got, denied)
	}
	if !strings.HasSuffix(out.String(), "PartnerCart team-a/contoso-m365 denied (reason: not this quarter); the API server stamps approvedBy and approvedAt when the change is applied\n") {
		t.Errorf("output %q", out)
	}
	if err := run(t, e, "approve", "--file", path); err != nil {
		t.Fatal(err)
	}
	approved := strings.Replace(single, "  customerId: cust-1\n", `  approval:
    specHash: `+hash+`
    approved: true
    denied: false
  customerId: cust-1
`, 1)
	if got := readFile(t, path); got != approved {
		t.Fatalf("approved file:\n%s\nwant:\n%s", got, approved)
	}
	if err := run(t, e, "approve", "--file", path, "--pin=false"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); strings.Contains(got, "specHash") || !strings.Contains(got, "    approved: true\n    denied: false\n") {
		t.Errorf("unpinned file:\n%s", got)
	}
	// A checked-out cart is refused, with or without --force.
	e, _, _, _ = newEnv(t, completed())
	path = writeManifest(t, strings.Replace(single, "contoso-m365", "fabrikam", 1))
	if err := run(t, e, "deny", "--file", path, "--reason", "x"); err == nil || !strings.Contains(err.Error(), "already checking out or checked out") {
		t.Errorf("deny --file of a checked-out cart: %v", err)
	}
}

// TestEditRefusesWhatItCannotEditSafely: a flow-style approval is left for a person.
func TestEditRefusesWhatItCannotEditSafely(t *testing.T) {
	e, _, _, _ := newEnv(t, awaiting())
	content := strings.Replace(manifestYAML, `  approval:
    # Set by kubectl partnercart approve --file.
    approved: false     # not yet
    maxTotalPrice: '4000'
`, "  approval: {approved: false}\n", 1)
	path := writeManifest(t, content)
	if err := run(t, e, "approve", "--file", path, "contoso-m365", "--force"); err == nil || !strings.Contains(err.Error(), "flow style") {
		t.Errorf("flow-style approval: %v", err)
	}
	if readFile(t, path) != content {
		t.Error("the file changed")
	}
}
