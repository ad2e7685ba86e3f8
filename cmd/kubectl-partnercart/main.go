// Command kubectl-partnercart is a kubectl plugin (`kubectl partnercart ...`) for the people
// who read and approve PartnerCarts: it lists carts with their quote, approval and orders,
// prints a cart's quote the way an approver needs it, approves (pinned to the spec hash that
// was quoted) or denies, in the cluster or in a GitOps manifest, pauses and resumes a cart,
// waits for a cart to reach a phase, settles an unknown checkout outcome, lists receipts, and
// requests, approves or withdraws the cancellation of what a cart bought.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

const usageHead = `kubectl partnercart: read, approve and deny PartnerCarts, and cancel what they bought.

Usage:
  kubectl partnercart COMMAND [ARGS] [flags]

Commands:
`

const usageTail = `
Kubeconfig flags (before or after the command):
  --kubeconfig PATH  --context NAME  -n, --namespace NS  --as USER

Run 'kubectl partnercart COMMAND --help' for a command's arguments and flags.
`

// options are the flags every command shares, and those several commands share.
type options struct {
	kubeconfig    string
	context       string
	namespace     string
	as            string
	allNamespaces bool
	output        string
}

// env is what a command runs with; tests give it a fake client.
type env struct {
	out, errOut io.Writer
	// newClient returns a client and the namespace to work in.
	newClient func(o *options) (client.Client, string, error)
}

// command is one subcommand: its help, its flags and what it does.
type command struct {
	name string
	// synopsis lines, after "kubectl partnercart NAME ".
	synopsis []string
	// short is its line in the global usage; long is the paragraph of its own help.
	short, long string
	// setup registers the command's own flags on fs and returns what runs it on the
	// positional arguments.
	setup func(fs *flag.FlagSet, o *options) func(ctx context.Context, e *env, args []string) error
}

// commands is every subcommand, in the order the usage lists them.
func commands() []*command {
	return []*command{
		getCommand(), quoteCommand(), approveCommand(), denyCommand(), cancelCommand(), pauseCommand(true), pauseCommand(false),
		waitCommand(), resolveCommand(), receiptsCommand(), migrateCommand(), versionCommand(),
	}
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// globalUsage is the list of commands.
func globalUsage() string {
	var b strings.Builder
	b.WriteString(usageHead)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		printf(tw, "  %s\t%s\n", c.name, c.short)
	}
	printText(tw, "  help [COMMAND]\tthis text, or a command's help\n")
	_ = tw.Flush()
	b.WriteString(usageTail)
	return b.String()
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

// Scheme knows PartnerCarts, PartnerCenterAccounts and ConfigMaps.
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

// commonFlags are the kubeconfig flags; a command's help lists them apart from its own.
var commonFlags = []string{"kubeconfig", "context", "namespace", "n", "as"}

// shortFlags are the one-letter spellings of long flags, shown together in help.
var shortFlags = map[string]string{"namespace": "n", "all-namespaces": "A", "output": "o"}

// addCommon registers the kubeconfig flags on fs.
func (o *options) addCommon(fs *flag.FlagSet) {
	// The defaults are the values already parsed, so that flags before the subcommand hold.
	fs.StringVar(&o.kubeconfig, "kubeconfig", o.kubeconfig, "path to the kubeconfig `PATH`")
	fs.StringVar(&o.context, "context", o.context, "kubeconfig context `NAME` to use")
	fs.StringVar(&o.namespace, "namespace", o.namespace, "namespace `NS` (default: the context's)")
	fs.StringVar(&o.namespace, "n", o.namespace, "namespace (short for --namespace)")
	fs.StringVar(&o.as, "as", o.as, "`USER` to impersonate")
}

// addAllNamespaces registers -A/--all-namespaces.
func (o *options) addAllNamespaces(fs *flag.FlagSet) {
	fs.BoolVar(&o.allNamespaces, "A", false, "all namespaces")
	fs.BoolVar(&o.allNamespaces, "all-namespaces", false, "all namespaces")
}

// addOutput registers -o/--output with the formats a command prints.
func (o *options) addOutput(fs *flag.FlagSet, formats ...string) {
	help := "output `FORMAT`: " + strings.Join(formats, ", ") + " (default: a table)"
	fs.StringVar(&o.output, "output", "", help)
	fs.StringVar(&o.output, "o", "", help)
}

func (e *env) run(ctx context.Context, args []string) error {
	// The subcommand is the first argument that is not a flag or a flag's value.
	o := &options{}
	global := flag.NewFlagSet("kubectl-partnercart", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	o.addCommon(global)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printText(e.out, globalUsage())
			return err
		}
		printText(e.errOut, globalUsage())
		return flagError("", err)
	}
	rest := global.Args()
	if len(rest) == 0 {
		printText(e.errOut, globalUsage())
		return errors.New("no command")
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			printText(e.out, globalUsage())
			return nil
		}
		c := findCommand(rest[0])
		if c == nil {
			return fmt.Errorf("unknown command %q (see 'kubectl partnercart help')", rest[0])
		}
		fs := flag.NewFlagSet("kubectl-partnercart "+c.name, flag.ContinueOnError)
		o.addCommon(fs)
		c.setup(fs, o)
		printText(e.out, commandHelp(c, fs))
		return nil
	}
	c := findCommand(name)
	if c == nil {
		printText(e.errOut, globalUsage())
		return fmt.Errorf("unknown command %q", name)
	}
	fs := flag.NewFlagSet("kubectl-partnercart "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.addCommon(fs)
	runCmd := c.setup(fs, o)
	pos, err := parse(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printText(e.out, commandHelp(c, fs))
			return err
		}
		return flagError(c.name, err)
	}
	return runCmd(ctx, e, pos)
}

// flagError turns the flag package's message into one that names the command and says
// where its flags are listed.
func flagError(cmd string, err error) error {
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag " + dashes(f)
	} else if f, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		msg = "flag " + dashes(f) + " needs a value"
	}
	if cmd == "" {
		return fmt.Errorf("%s (see 'kubectl partnercart --help')", msg)
	}
	return fmt.Errorf("kubectl partnercart %s: %s (see 'kubectl partnercart %s --help')", cmd, msg, cmd)
}

// dashes spells a flag name as it is typed: -n, --namespace.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// usageError is a wrong number of arguments; it names the command's help.
func usageError(cmd, format string, a ...any) error {
	return fmt.Errorf("kubectl partnercart %s: %s (see 'kubectl partnercart %s --help')", cmd, fmt.Sprintf(format, a...), cmd)
}

// commandHelp is a command's usage: synopsis, what it does, its flags, the kubeconfig flags.
func commandHelp(c *command, fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	for _, s := range c.synopsis {
		b.WriteString("  kubectl partnercart " + strings.TrimSpace(c.name+" "+s) + "\n")
	}
	b.WriteString("\n" + strings.TrimSpace(c.long) + "\n")
	var own, common []*flag.Flag
	aliases := map[string]bool{}
	for _, short := range shortFlags {
		aliases[short] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		switch {
		case slices.Contains(commonFlags, f.Name):
			if f.Name != "n" {
				common = append(common, f)
			}
		case aliases[f.Name] && fs.Lookup(longOf(f.Name)) != nil:
			// listed with its long spelling
		default:
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		b.WriteString("\nFlags:\n")
		writeFlags(&b, fs, own)
	}
	b.WriteString("\nKubeconfig flags:\n")
	writeFlags(&b, fs, common)
	return b.String()
}

func longOf(short string) string {
	for long, s := range shortFlags {
		if s == short {
			return long
		}
	}
	return ""
}

// writeFlags writes one line per flag: "-o, --output FORMAT  what it does (default x)".
func writeFlags(w io.Writer, fs *flag.FlagSet, flags []*flag.Flag) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range flags {
		arg, usage := flag.UnquoteUsage(f)
		if arg == "value" || arg == "string" {
			arg = "VALUE"
		}
		spelling := "    " + dashes(f.Name)
		if short, ok := shortFlags[f.Name]; ok && fs.Lookup(short) != nil {
			spelling = dashes(short) + ", " + dashes(f.Name)
		} else if len(f.Name) == 1 {
			spelling = dashes(f.Name)
		}
		if arg != "" {
			spelling += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			usage += " (default " + f.DefValue + ")"
		}
		printf(tw, "  %s\t%s\n", spelling, usage)
	}
	_ = tw.Flush()
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

// oneName is the single NAME a command takes.
func oneName(cmd string, args []string) (string, error) {
	if len(args) != 1 {
		return "", usageError(cmd, "needs exactly one NAME, got %d arguments", len(args))
	}
	return args[0], nil
}

// printf, printLine and printText write to the terminal; a failed write there has nowhere to
// be reported.
func printf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

func printLine(w io.Writer, a ...any) { _, _ = fmt.Fprintln(w, a...) }

func printText(w io.Writer, s string) { _, _ = io.WriteString(w, s) }
