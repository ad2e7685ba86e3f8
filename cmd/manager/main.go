// Command manager runs the PartnerCart operator.
package main

import (
	"crypto/tls"
	"flag"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/controller"
	"github.com/partnercart/partnercart-operator/internal/memlimit"
	"github.com/partnercart/partnercart-operator/internal/partnercenter"
)

func main() {
	var (
		metricsAddr, probeAddr       string
		pprofAddr                    string
		secureMetrics, enableHTTP2   bool
		leaderElect                  bool
		leaderElectionNamespace      string
		endpoint, authority          string
		qps                          float64
		burst, maxConcurrent         int
		kubeQPS                      float64
		kubeBurst                    int
		opts                         controller.Options
		requestTimeout, checkoutTime time.Duration
		accounts                     controller.AccountReconciler
		allowNamespaceCredentials    bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint, e.g. :8443 (HTTPS) or :8080 with --metrics-secure=false; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address of the Go profiler (/debug/pprof/), e.g. 127.0.0.1:6060; empty disables it. Unauthenticated: bind it to localhost and reach it with kubectl port-forward.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server (off by default: CVE-2023-44487, CVE-2023-39325).")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so only one manager reconciles (and checks out) at a time.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease (default: the pod's namespace).")
	flag.StringVar(&endpoint, "partner-center-endpoint", partnercenter.DefaultEndpoint, "Partner Center API base URL. Never taken from a PartnerCart.")
	flag.StringVar(&authority, "authority-host", partnercenter.DefaultAuthorityHost, "Entra ID authority host for client-credentials tokens.")
	flag.Float64Var(&qps, "partner-center-qps", 8, "Partner Center calls per second per partner tenant, shared by all workers (0: unlimited).")
	flag.IntVar(&burst, "partner-center-burst", 0, "Burst of Partner Center calls per partner tenant (0: the QPS rounded up).")
	flag.DurationVar(&requestTimeout, "partner-center-timeout", partnercenter.DefaultTimeout, "Deadline of each Partner Center call.")
	flag.DurationVar(&checkoutTime, "partner-center-checkout-timeout", partnercenter.DefaultCheckoutTimeout,
		"Deadline of each checkout call. A shutdown waits for a checkout in flight this long (plus 40s), and another manager process repeats a call only after it.")
	flag.IntVar(&maxConcurrent, "max-concurrent-reconciles", 16, "PartnerCarts reconciled in parallel.")
	flag.DurationVar(&opts.OrderPollInterval, "order-poll-interval", 5*time.Second, "First wait between order status polls; later waits grow with the order's age.")
	flag.DurationVar(&opts.MaxOrderPollInterval, "max-order-poll-interval", 10*time.Minute, "Longest wait between order status polls.")
	flag.DurationVar(&opts.CredentialsRetryInterval, "credentials-retry-interval", 5*time.Minute, "Wait before retrying after missing or refused credentials.")
	flag.DurationVar(&opts.IdenticalPurchaseWindow, "identical-purchase-window", 7*24*time.Hour,
		"Before a first checkout with no receipt of the same name, look this far back in the customer's orders for exactly the cart's lines, and stop instead of buying them again (negative: do not look).")
	flag.BoolVar(&opts.PurchaseFreeze, "purchase-freeze", false, "Make no new checkout (a kill switch): carts are still synced, and checkouts already started are still recovered.")
	// A cart costs four PATCHes; at client-go's usual 50 QPS the client, not the API server,
	// bounds a burst of a thousand carts (docs/performance.md).
	flag.Float64Var(&kubeQPS, "kube-api-qps", 200, "Kubernetes API requests per second of the manager's client.")
	flag.IntVar(&kubeBurst, "kube-api-burst", 400, "Kubernetes API request burst of the manager's client.")
	zapOpts := zap.Options{Development: false}
	flag.StringVar(&accounts.CredentialsNamespace, "credentials-namespace", "",
		"Namespace of PartnerCenterAccount Secrets: a Secret reference without a namespace means it, one naming another is refused.")
	flag.StringVar(&accounts.WorkloadIdentityTokenPath, "workload-identity-token-path", controller.DefaultWorkloadIdentityTokenPath,
		"Projected service-account token of the manager, the client assertion of workloadIdentity accounts.")
	flag.BoolVar(&allowNamespaceCredentials, "allow-namespace-credentials", true,
		"Let a PartnerCart name a Secret of its own namespace (spec.credentialsSecretRef). false: only PartnerCenterAccounts buy, and the manager reads Secrets only in --credentials-namespace (which is then required).")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	// Without GOMEMLIMIT, 90% of the container's memory limit; without any, GOGC tuned to the
	// live heap between 100 and 25 (docs/performance.md).
	d := memlimit.Set(memlimit.DefaultShare)
	log.Info("Go memory settings", "limitBytes", d.Limit, "source", d.Source, "cgroupLimit", d.CgroupLimit, "gogc", d.GCPercent, "gogcTuned", d.TunedGC)
	if !allowNamespaceCredentials && accounts.CredentialsNamespace == "" {
		log.Error(nil, "--allow-namespace-credentials=false needs --credentials-namespace: the only namespace whose Secrets the manager reads")
		os.Exit(2)
	}
	opts.CredentialsNamespace, opts.WorkloadIdentityTokenPath = accounts.CredentialsNamespace, accounts.WorkloadIdentityTokenPath
	opts.DenyNamespaceCredentials = !allowNamespaceCredentials

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	// A checkout call, with the client's own retries, and the writes that record it must
	// finish within the reconciler's checkout timeout, and a shutdown waits for them.
	opts.CheckoutTimeout = checkoutTime + 30*time.Second
	gracefulShutdown := opts.CheckoutTimeout + 10*time.Second

	restCfg := ctrl.GetConfigOrDie()
	restCfg.QPS, restCfg.Burst = float32(kubeQPS), kubeBurst
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        newScheme(),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "partnercart-operator.partnercenter.partnercart.dev",
		LeaderElectionNamespace:       leaderElectionNamespace,
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaderElectionReleaseOnCancel: true,
		// SIGTERM or a lost lease lets a checkout in flight finish and be recorded.
		GracefulShutdownTimeout: &gracefulShutdown,
		// Receipts cached as metadata only; managedFields and last-applied copies dropped.
		Cache: controller.CacheOptions(cacheOptions(allowNamespaceCredentials, accounts.CredentialsNamespace)),
		// The cache's ByObject kinds mapped without the API server, which may be down at start.
		MapperProvider: controller.NewRESTMapper,
	})
	if err != nil {
		log.Error(err, "Failed to create manager")
		os.Exit(1)
	}

	factory := partnercenter.NewFactory(partnercenter.Config{
		Endpoint:        endpoint,
		AuthorityHost:   authority,
		QPS:             qps,
		Burst:           burst,
		Timeout:         requestTimeout,
		CheckoutTimeout: checkoutTime,
		HTTPClient:      &http.Client{Transport: http.DefaultTransport},
		Observer:        partnercenter.NewPrometheusObserver(metrics.Registry),
	})
	recorder, err := controller.NewEventRecorder(mgr, "partnercart-controller")
	if err != nil {
		log.Error(err, "Failed to set up the event recorder")
		os.Exit(1)
	}
	r := &controller.PartnerCartReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      recorder,
		PartnerCenter: factory,
		Options:       opts,
	}
	metrics.Registry.MustRegister(&controller.PhaseCollector{Reader: mgr.GetCache()})
	if err := r.SetupWithManager(mgr, maxConcurrent); err != nil {
		log.Error(err, "Failed to set up the PartnerCart controller")
		os.Exit(1)
	}
	accounts.Client, accounts.APIReader, accounts.PartnerCenter = mgr.GetClient(), mgr.GetAPIReader(), factory
	if err := accounts.SetupWithManager(mgr); err != nil {
		log.Error(err, "Failed to set up the PartnerCenterAccount controller")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Failed to add health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Failed to add ready check")
		os.Exit(1)
	}
	log.Info("Starting manager", "partnerCenterEndpoint", endpoint, "authorityHost", authority,
		"partnerCenterQPS", qps, "maxConcurrentReconciles", maxConcurrent, "purchaseFreeze", opts.PurchaseFreeze,
		"credentialsNamespace", opts.CredentialsNamespace, "allowNamespaceCredentials", allowNamespaceCredentials)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}

// cacheOptions: without namespace credentials, Secret metadata is watched only in the
// credentials namespace, so the manager needs no cluster-wide Secret permission.
func cacheOptions(allowNamespaceCredentials bool, credentialsNamespace string) cache.Options {
	var opts cache.Options
	if !allowNamespaceCredentials {
		opts.ByObject = map[client.Object]cache.ByObject{
			controller.CoreMetadata("Secret"): {Namespaces: map[string]cache.Config{credentialsNamespace: {}}},
		}
	}
	return opts
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(pcv1alpha1.AddToScheme(s))
	return s
}
