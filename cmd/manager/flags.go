package main

import (
	"errors"
	"flag"
	"io"
	"time"

	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/partnercart/partnercart-operator/internal/controller"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// config is the manager's command line. The chart offers every flag at its default
// (hack/chartcheck compares them with `manager -help`), so a default changes here only.
type config struct {
	metricsAddr, probeAddr, pprofAddr string
	secureMetrics, enableHTTP2        bool
	leaderElect                       bool
	leaderElectionNamespace           string
	maxConcurrentReconciles           int
	kubeQPS                           float64
	kubeBurst                         int
	allowNamespaceCredentials         bool
	admissionCheckInterval            time.Duration
	// eventsAddr: Flux's notification-controller, which the Events are forwarded to.
	eventsAddr string
	// partnerCenter holds the endpoint, authority, rate limit and call deadlines; main adds
	// the HTTP client and the metrics observer.
	partnerCenter partnercenter.Config
	// reconciler holds the PartnerCart options, and the credentials namespace and token path
	// that the PartnerCenterAccount controller shares.
	reconciler controller.Options
	zap        zap.Options
}

// parseFlags reads the manager's flags from args (without the program name). Usage and
// errors go to output; -help returns flag.ErrHelp.
func parseFlags(args []string, output io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint, e.g. :8443 (HTTPS) or :8080 with --metrics-secure=false; 0 disables it.")
	fs.StringVar(&c.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	fs.StringVar(&c.pprofAddr, "pprof-bind-address", "", "Address of the Go profiler (/debug/pprof/), e.g. 127.0.0.1:6060; empty disables it. Unauthenticated: bind it to localhost and reach it with kubectl port-forward.")
	fs.BoolVar(&c.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	fs.BoolVar(&c.enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server (off by default: CVE-2023-44487, CVE-2023-39325).")
	fs.BoolVar(&c.leaderElect, "leader-elect", false, "Elect a leader, so only one manager reconciles (and checks out) at a time.")
	fs.StringVar(&c.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease (default: the pod's namespace).")
	fs.StringVar(&c.eventsAddr, "events-addr", "",
		"Flux notification-controller's events URL, e.g. http://notification-controller.flux-system.svc.cluster.local./ (as Flux's controllers take it): Events about carts a Flux Kustomization or HelmRelease applied are forwarded there as that object's events, for Flux Alerts to route. Empty: not forwarded.")

	pc := &c.partnerCenter
	fs.StringVar(&pc.Endpoint, "partner-center-endpoint", partnercenter.DefaultEndpoint, "Partner Center API base URL. Never taken from a PartnerCart.")
	fs.StringVar(&pc.AuthorityHost, "authority-host", partnercenter.DefaultAuthorityHost, "Entra ID authority host for client-credentials tokens.")
	fs.Float64Var(&pc.QPS, "partner-center-qps", 8, "Partner Center calls per second per partner tenant, shared by all workers (0: unlimited).")
	fs.IntVar(&pc.Burst, "partner-center-burst", 0, "Burst of Partner Center calls per partner tenant (0: the QPS rounded up).")
	fs.DurationVar(&pc.Timeout, "partner-center-timeout", partnercenter.DefaultTimeout, "Deadline of each Partner Center call.")
	fs.DurationVar(&pc.CheckoutTimeout, "partner-center-checkout-timeout", partnercenter.DefaultCheckoutTimeout,
		"Deadline of each checkout call. A shutdown waits for a checkout in flight this long (plus 40s), and another manager process repeats a call only after it.")

	o := &c.reconciler
	fs.IntVar(&c.maxConcurrentReconciles, "max-concurrent-reconciles", 16, "PartnerCarts reconciled in parallel.")
	fs.DurationVar(&o.OrderPollInterval, "order-poll-interval", controller.DefaultOrderPollInterval, "First wait between order status polls; later waits grow with the order's age.")
	fs.DurationVar(&o.MaxOrderPollInterval, "max-order-poll-interval", controller.DefaultMaxOrderPollInterval, "Longest wait between order status polls.")
	fs.DurationVar(&o.CredentialsRetryInterval, "credentials-retry-interval", controller.DefaultCredentialsRetryInterval, "Wait before retrying after missing or refused credentials.")
	fs.DurationVar(&o.IdenticalPurchaseWindow, "identical-purchase-window", controller.DefaultIdenticalPurchaseWindow,
		"Before a first checkout with no receipt of the same name, look this far back in the customer's orders for exactly the cart's lines, and stop instead of buying them again (negative: do not look).")
	fs.DurationVar(&c.admissionCheckInterval, "admission-check-interval", time.Minute,
		"How often to check that the approval admission policies are installed and in force (a tenth of it while they are not); no checkout starts while they are not.")
	fs.BoolVar(&o.PurchaseFreeze, "purchase-freeze", false, "Make no new checkout (a kill switch): carts are still synced, and checkouts already started are still recovered.")
	// A cart costs four PATCHes; at client-go's usual 50 QPS the client, not the API server,
	// bounds a burst of a thousand carts (docs/performance.md).
	fs.Float64Var(&c.kubeQPS, "kube-api-qps", 200, "Kubernetes API requests per second of the manager's client.")
	fs.IntVar(&c.kubeBurst, "kube-api-burst", 400, "Kubernetes API request burst of the manager's client.")
	fs.StringVar(&o.CredentialsNamespace, "credentials-namespace", "",
		"Namespace of PartnerCenterAccount Secrets: a Secret reference without a namespace means it, one naming another is refused.")
	fs.StringVar(&o.ReceiptNamespace, "receipt-namespace", "",
		"Namespace of receipts, the records of purchases, out of tenants' reach (default: --credentials-namespace, else the namespace the manager runs in). Receipts elsewhere are not the manager's and count for nothing.")
	fs.StringVar(&o.WorkloadIdentityTokenPath, "workload-identity-token-path", controller.DefaultWorkloadIdentityTokenPath,
		"Projected service-account token of the manager, the client assertion of workloadIdentity accounts.")
	fs.BoolVar(&c.allowNamespaceCredentials, "allow-namespace-credentials", true,
		"Let a PartnerCart name a Secret of its own namespace (spec.credentialsSecretRef). false: only PartnerCenterAccounts buy, and the manager reads Secrets only in --credentials-namespace (which is then required).")
	c.zap.BindFlags(fs)
	ctrlconfig.RegisterFlags(fs) // --kubeconfig, which ctrl.GetConfigOrDie reads
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if !c.allowNamespaceCredentials && o.CredentialsNamespace == "" {
		return nil, errors.New("--allow-namespace-credentials=false needs --credentials-namespace: the only namespace whose Secrets the manager reads")
	}
	if fs.NArg() > 0 {
		return nil, errors.New("the manager takes no arguments, only flags; got " + fs.Arg(0))
	}
	if o.ReceiptNamespace == "" {
		o.ReceiptNamespace = o.CredentialsNamespace // both the operator's own namespace where installed
	}
	o.DenyNamespaceCredentials = !c.allowNamespaceCredentials
	// A checkout call, with the client's own retries, and the writes that record it must
	// finish within the reconciler's checkout timeout, and a shutdown waits for them.
	o.CheckoutTimeout = pc.CheckoutTimeout + 30*time.Second
	return c, nil
}

// gracefulShutdown is how long a stopping manager waits for its reconciles: a checkout in
// flight and the writes that record it.
func (c *config) gracefulShutdown() time.Duration {
	return c.reconciler.CheckoutTimeout + 10*time.Second
}
