package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		gl, wl := lines(got), lines(string(want))
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("%s differs from line %d:\ngot:  %q\nwant: %q\nwhole output:\n%s", path, i+1, g, w, got)
				return
			}
		}
		t.Errorf("%s differs (line ends):\n%s", path, got)
	}
}

// TestHelp: every command prints its own usage and flags for --help, -h and `help COMMAND`,
// on stdout, and exits without error; the global usage lists every command.
func TestHelp(t *testing.T) {
	e, _, out, errOut := newEnv(t)
	for _, c := range commands() {
		out.Reset()
		err := run(t, e, c.name, "--help")
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s --help: %v", c.name, err)
		}
		golden(t, "help-"+c.name+".txt", out.String())
		help := out.String()
		for _, args := range [][]string{{c.name, "-h"}, {"help", c.name}, {"-n", "team-a", c.name, "x", "--help"}} {
			out.Reset()
			_ = run(t, e, args...)
			if got := out.String(); got != help && args[0] != "-n" {
				t.Errorf("%v prints other help:\n%s", args, got)
			}
		}
		if !strings.HasPrefix(help, "Usage:\n  kubectl partnercart "+c.name) {
			t.Errorf("%s --help does not start with its usage:\n%s", c.name, help)
		}
	}
	out.Reset()
	if err := run(t, e, "help"); err != nil {
		t.Fatal(err)
	}
	golden(t, "help.txt", out.String())
	out.Reset()
	if err := run(t, e, "--help"); !errors.Is(err, flag.ErrHelp) || out.String() != mustRead(t, "help.txt") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	if errOut.Len() != 0 {
		t.Errorf("help wrote to stderr: %s", errOut)
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUsageErrors: wrong arguments and unknown flags name the command and its help.
func TestUsageErrors(t *testing.T) {
	e, _, _, _ := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"quote"}, "kubectl partnercart quote: needs exactly one NAME, got 0 arguments (see 'kubectl partnercart quote --help')"},
		{[]string{"approve", "a", "b"}, "kubectl partnercart approve: needs exactly one NAME, got 2 arguments"},
		{[]string{"receipts", "x"}, "kubectl partnercart receipts: takes no arguments"},
		{[]string{"get", "--bogus"}, "kubectl partnercart get: unknown flag --bogus (see 'kubectl partnercart get --help')"},
		{[]string{"approve", "x", "-force"}, ""}, // -force is --force: no usage error (the cart is missing)
		{[]string{"approve", "x", "--max-totl", "5"}, "kubectl partnercart approve: unknown flag --max-totl"},
		{[]string{"pause", "x", "-z"}, "kubectl partnercart pause: unknown flag -z"},
		{[]string{"wait", "x", "--timeout"}, "kubectl partnercart wait: flag --timeout needs a value"},
		{[]string{"wait", "x", "--timeout", "soon"}, "kubectl partnercart wait: invalid value"},
		{[]string{"wait", "x", "--for", "Done"}, "kubectl partnercart wait: --for=Done: want a phase (Pending, AwaitingApproval, CheckingOut, Provisioning, Completed, Failed) or condition=TYPE[=STATUS]"},
		{[]string{"--bogus", "get"}, "unknown flag --bogus (see 'kubectl partnercart --help')"},
		{[]string{"deny", "x"}, "kubectl partnercart deny: --reason is required"},
		{[]string{"deny", "x", "--reason", " "}, "kubectl partnercart deny: --reason is required"},
		{[]string{"quote", "x", "-o", "wide"}, `kubectl partnercart quote: -o "wide" is not one of json, yaml`},
		{[]string{"approve", "x", "--spec-hash", hash}, "--spec-hash goes with --file"},
		{[]string{"approve", "x", "--file", "f.yaml", "--print-patch"}, "--print-patch and --file do not go together"},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
	} {
		err := run(t, e, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestQuoteOutputs(t *testing.T) {
	e, _, out, _ := newEnv(t, awaiting(), completed(), deniedCart())
	for _, tc := range []struct{ name, format, golden string }{
		{"contoso-m365", "json", "quote.json"},
		{"contoso-m365", "yaml", "quote.yaml"},
		{"fabrikam", "", "quote-completed.txt"},
		{"northwind", "", "quote-denied.txt"},
	} {
		out.Reset()
		args := []string{"quote", tc.name}
		if tc.format != "" {
			args = append(args, "-o", tc.format)
		}
		if err := run(t, e, args...); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.golden, out.String())
	}
	out.Reset()
	if err := run(t, e, "quote", "contoso-m365", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	var q quoteDoc
	if err := json.Unmarshal(out.Bytes(), &q); err != nil || q.Quote != "current" || len(q.LineItems) != 3 || q.LineItems[1].AddonOf != 1 ||
		q.QuotedTotal != "4680.00" {
		t.Errorf("quote -o json: %v %+v", err, q)
	}
}

func TestReceiptsOutputs(t *testing.T) {
	body := `{"partnerCart":"a","customerId":"cust-1","outcome":"Succeeded","checkoutCompletedAt":"2026-11-30T10:00:00Z","orders":[{"id":"ord-1","totalPrice":"10.00","currencyCode":"EUR"}]}`
	receipt := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: defaultReceiptNamespace, Name: "team-a.a-receipt-1234abcd",
		Labels: map[string]string{receiptLabel: "true", pcv1alpha1.ReceiptCartNamespaceLabel: "team-a"}},
		Data: map[string]string{"customerId": "cust-1", "receipt.json": body}}
	e, _, out, _ := newEnv(t, receipt)
	for _, format := range []string{"json", "yaml"} {
		out.Reset()
		if err := run(t, e, "receipts", "-o", format); err != nil {
			t.Fatal(err)
		}
		golden(t, "receipts."+format, out.String())
	}
}

func TestVersion(t *testing.T) {
	e, _, out, _ := newEnv(t)
	if err := run(t, e, "version"); err != nil {
		t.Fatal(err)
	}
	// Test binaries carry no module version: "dev" unless -ldflags set one.
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if want := "kubectl-partnercart dev\nGo version: " + runtime.Version() + "\nPlatform:   " + platform + "\n"; out.String() != want {
		t.Errorf("version:\n%s\nwant:\n%s", out, want)
	}
	old := version
	version = "v0.3.1"
	t.Cleanup(func() { version = old })
	out.Reset()
	if err := run(t, e, "version", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	if want := "{\n    \"version\": \"v0.3.1\",\n    \"goVersion\": \"" + runtime.Version() + "\",\n    \"platform\": \"" + platform + "\"\n}\n"; out.String() != want {
		t.Errorf("version -o json:\n%s\nwant:\n%s", out, want)
	}
	out.Reset()
	if err := run(t, e, "version", "-o", "yaml"); err != nil {
		t.Fatal(err)
	}
	if want := "goVersion: " + runtime.Version() + "\nplatform: " + platform + "\nversion: v0.3.1\n"; out.String() != want {
		t.Errorf("version -o yaml:\n%s\nwant:\n%s", out, want)
	}
	// It needs no cluster.
	e.newClient = func(*options) (client.Client, string, error) { return nil, "", errors.New("no cluster") }
	if err := run(t, e, "version"); err != nil {
		t.Errorf("version without a cluster: %v", err)
	}
}
