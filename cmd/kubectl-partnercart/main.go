// Command kubectl-partnercart is a kubectl plugin (`kubectl partnercart ...`) for the people
// who read and approve PartnerCarts: it lists carts with their quote, approval and orders,
// prints a cart's quote the way an approver needs it, approves (pinned to the spec hash that
// was quoted), settles an unknown checkout outcome and lists receipts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

const usage = `kubectl partnercart: read and approve PartnerCarts.

Usage:
  kubectl partnercart get [NAME...] [-A]        carts with quote, approval, checkout and orders
  kubectl partnercart quote NAME                line items, unit and extended prices, total, line errors
  kubectl partnercart approve NAME [--pin=true] [--max-total AMOUNT] [--print-patch]
                                                approve the cart, pinned to the spec hash that was quoted
  kubectl partnercart resolve NAME --nothing-bought [--not-ours ID,...] | --orders ID[,ID...]
                                                settle a checkout whose outcome is Unknown
  kubectl partnercart receipts [--customer ID] [--cart NAME] [-A] [--receipt-namespace NS]
                                                receipts of purchases (immutable ConfigMaps in the
                                                operator's namespace, default partnercart-system)
  kubectl partnercart migrate-receipts [--receipt-namespace NS] [--dry-run]
                                                an administrator, once after upgrading: copy receipts
                                                that earlier releases wrote in tenant namespaces

Kubeconfig flags (before or after the subcommand):
  --kubeconfig PATH  --context NAME  -n, --namespace NS  --as USER
`

// options are the flags every subcommand shares.
type options struct {
	kubeconfig    string
	context       string
	namespace     string
	as            string
	allNamespaces bool
}

// env is what a command runs with; tests give it a fake client.
type env struct {
	out, errOut io.Writer
	// newClient returns a client and the namespace to work in.
	newClient func(o *options) (client.Client, string, error)
}

func main() {
	e := &env{out: os.Stdout, errOut: os.Stderr, newClient: kubeClient}
	if err := e.run(context.Background(), os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// Scheme knows PartnerCarts and ConfigMaps.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := pcv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// kubeClient loads the kubeconfig the way kubectl does ($KUBECONFIG, ~/.kube/config, in-cluster).
func kubeClient(o *options) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	overrides.Context.Namespace = o.namespace
	overrides.AuthInfo.Impersonate = o.as
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	return c, ns, err
}

// addCommon registers the kubeconfig flags on fs.
func (o *options) addCommon(fs *flag.FlagSet) {
	// The defaults are the values already parsed, so that flags before the subcommand hold.
	fs.StringVar(&o.kubeconfig, "kubeconfig", o.kubeconfig, "path to the kubeconfig file")
	fs.StringVar(&o.context, "context", o.context, "kubeconfig context to use")
	fs.StringVar(&o.namespace, "namespace", o.namespace, "namespace (default: the context's)")
	fs.StringVar(&o.namespace, "n", o.namespace, "namespace (short for --namespace)")
	fs.StringVar(&o.as, "as", o.as, "user to impersonate")
}

func (e *env) run(ctx context.Context, args []string) error {
	// The subcommand is the first argument that is not a flag or a flag's value.
	o := &options{}
	global := flag.NewFlagSet("kubectl-partnercart", flag.ContinueOnError)
	global.SetOutput(e.errOut)
	global.Usage = func() { printText(e.errOut, usage) }
	o.addCommon(global)
	if err := global.Parse(args); err != nil {
		return err
	}
	rest := global.Args()
	if len(rest) == 0 {
		printText(e.errOut, usage)
		return errors.New("no subcommand")
	}
	cmd, rest := rest[0], rest[1:]
	fs := flag.NewFlagSet("kubectl-partnercart "+cmd, flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	fs.Usage = func() { printText(e.errOut, usage) }
	o.addCommon(fs)
	switch cmd {
	case "get":
		fs.BoolVar(&o.allNamespaces, "A", false, "all namespaces")
		fs.BoolVar(&o.allNamespaces, "all-namespaces", false, "all namespaces")
		names, err := parse(fs, rest)
		if err != nil {
			return err
		}
		return e.withClient(o, func(c client.Client, ns string) error { return cmdGet(ctx, c, ns, o.allNamespaces, names, e.out) })
	case "quote":
		names, err := parse(fs, rest)
		if err != nil {
			return err
		}
		if len(names) != 1 {
			return errors.New("quote needs exactly one NAME")
		}
		return e.withClient(o, func(c client.Client, ns string) error { return cmdQuote(ctx, c, ns, names[0], e.out) })
	case "approve":
		a := approveOptions{}
		fs.BoolVar(&a.pin, "pin", true, "pin the approval to the spec hash in status (what was quoted); --pin=false approves whatever the spec becomes")
		fs.StringVar(&a.maxTotal, "max-total", "", "refuse the checkout if the fresh quote's total exceeds this decimal amount")
		fs.BoolVar(&a.printPatch, "print-patch", false, "print the spec.approval change as YAML (for a GitOps pull request) instead of applying it")
		names, err := parse(fs, rest)
		if err != nil {
			return err
		}
		if len(names) != 1 {
			return errors.New("approve needs exactly one NAME")
		}
		return e.withClient(o, func(c client.Client, ns string) error {
			return cmdApprove(ctx, c, ns, names[0], a, e.out, e.errOut)
		})
	case "resolve":
		r := resolveOptions{}
		fs.BoolVar(&r.nothingBought, "nothing-bought", false, "Partner Center shows no order of this checkout")
		fs.StringVar(&r.orders, "orders", "", "comma-separated IDs of the orders this checkout created")
		fs.StringVar(&r.notOurs, "not-ours", "", "with --nothing-bought: comma-separated IDs of the candidate orders you checked are another purchase's")
		names, err := parse(fs, rest)
		if err != nil {
			return err
		}
		if len(names) != 1 {
			return errors.New("resolve needs exactly one NAME")
		}
		return e.withClient(o, func(c client.Client, ns string) error { return cmdResolve(ctx, c, ns, names[0], r, e.out) })
	case "receipts", "migrate-receipts":
		return e.runReceipts(ctx, cmd, fs, o, rest)
	case "help", "-h", "--help":
		printText(e.out, usage)
		return nil
	default:
		printText(e.errOut, usage)
		return fmt.Errorf("unknown subcommand %q", cmd)
	}
}

// runReceipts runs the subcommands that read or copy receipts.
func (e *env) runReceipts(ctx context.Context, cmd string, fs *flag.FlagSet, o *options, rest []string) error {
	switch cmd {
	case "receipts":
		r := receiptsOptions{}
		fs.BoolVar(&o.allNamespaces, "A", false, "all namespaces")
		fs.BoolVar(&o.allNamespaces, "all-namespaces", false, "all namespaces")
		fs.StringVar(&r.customer, "customer", "", "only receipts of this customer ID")
		fs.StringVar(&r.cart, "cart", "", "only receipts of this PartnerCart name")
		fs.StringVar(&r.receiptNamespace, "receipt-namespace", defaultReceiptNamespace, "the operator's --receipt-namespace, where receipts live")
		names, err := parse(fs, rest)
		if err != nil {
			return err
		}
		if len(names) != 0 {
			return errors.New("receipts takes no arguments")
		}
		r.allNamespaces = o.allNamespaces
		return e.withClient(o, func(c client.Client, ns string) error { return cmdReceipts(ctx, c, ns, r, e.out) })
	case "migrate-receipts":
		m := migrateOptions{}
		fs.StringVar(&m.receiptNamespace, "receipt-namespace", defaultReceiptNamespace, "the operator's --receipt-namespace")
		fs.BoolVar(&m.dryRun, "dry-run", false, "print what would be copied, copy nothing")
		names, err := parse(fs, rest)
		if err != nil {
			return err
		}
		if len(names) != 0 {
			return errors.New("migrate-receipts takes no arguments")
		}
		return e.withClient(o, func(c client.Client, _ string) error { return cmdMigrateReceipts(ctx, c, m, e.out) })
	}
	return fmt.Errorf("unknown subcommand %q", cmd)
}

// parse parses flags and positional arguments in any order, as kubectl does.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (e *env) withClient(o *options, f func(client.Client, string) error) error {
	c, ns, err := e.newClient(o)
	if err != nil {
		return err
	}
	if ns == "" {
		ns = "default"
	}
	return f(c, ns)
}

// printf, printLine and printText write to the terminal; a failed write there has nowhere to
// be reported.
func printf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

func printLine(w io.Writer, a ...any) { _, _ = fmt.Fprintln(w, a...) }

func printText(w io.Writer, s string) { _, _ = io.WriteString(w, s) }
