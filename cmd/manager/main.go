// Command manager runs the PartnerCart operator.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

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
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&c.zap)))
	log := ctrl.Log.WithName("setup")
	// Without GOMEMLIMIT, 90% of the container's memory limit; without any, GOGC tuned to the
	// live heap between 100 and 25 (docs/performance.md).
	d := memlimit.Set(memlimit.DefaultShare)
	log.Info("Go memory settings", "limitBytes", d.Limit, "source", d.Source, "cgroupLimit", d.CgroupLimit, "gogc", d.GCPercent, "gogcTuned", d.TunedGC)

	var tlsOpts []func(*tls.Config)
	if !c.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: c.metricsAddr, SecureServing: c.secureMetrics, TLSOpts: tlsOpts}
	if c.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	gracefulShutdown := c.gracefulShutdown()
	if c.reconciler.ReceiptNamespace == "" {
		c.reconciler.ReceiptNamespace = podNamespace()
	}
	if c.reconciler.ReceiptNamespace == "" {
		fmt.Fprintln(os.Stderr, "the manager needs --receipt-namespace (or --credentials-namespace) outside a pod: the namespace where it keeps receipts, out of tenants' reach")
		os.Exit(2)
	}

	restCfg := ctrl.GetConfigOrDie()
	restCfg.QPS, restCfg.Burst = float32(c.kubeQPS), c.kubeBurst
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        newScheme(),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        c.probeAddr,
		PprofBindAddress:              c.pprofAddr,
		LeaderElection:                c.leaderElect,
		LeaderElectionID:              "partnercart-operator.partnercenter.partnercart.dev",
		LeaderElectionNamespace:       c.leaderElectionNamespace,
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaderElectionReleaseOnCancel: true,
		// SIGTERM or a lost lease lets a checkout in flight finish and be recorded.
		GracefulShutdownTimeout: &gracefulShutdown,
		// Receipts cached as metadata only, in the receipt namespace; Secret metadata only in
		// the credentials namespace; managedFields and last-applied copies dropped.
		Cache: controller.CacheOptions(cache.Options{}, c.reconciler),
		// The cache's ByObject kinds mapped without the API server, which may be down at start.
		MapperProvider: controller.NewRESTMapper,
	})
	if err != nil {
		log.Error(err, "Failed to create manager")
		os.Exit(1)
	}

	pcConfig := c.partnerCenter
	pcConfig.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	pcConfig.Observer = partnercenter.NewPrometheusObserver(metrics.Registry)
	factory := partnercenter.NewFactory(pcConfig)
	events, err := controller.NewEventRecorder(mgr, "partnercart-controller")
	if err != nil {
		log.Error(err, "Failed to set up the event recorder")
		os.Exit(1)
	}
	recorder, err := controller.WithFluxNotifications(mgr, events, c.eventsAddr, "partnercart-controller")
	if err != nil {
		log.Error(err, "Failed to set up the Flux notifications")
		os.Exit(1)
	}
	r := &controller.PartnerCartReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      recorder,
		PartnerCenter: factory,
		Options:       c.reconciler,
	}
	uncached, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		log.Error(err, "Failed to create the admission policy checker's client")
		os.Exit(1)
	}
	admission := &controller.AdmissionPolicies{Client: uncached, Namespace: c.reconciler.ReceiptNamespace,
		Interval: c.admissionCheckInterval, Log: ctrl.Log.WithName("admission-policies")}
	if err := mgr.Add(admission); err != nil {
		log.Error(err, "Failed to set up the admission policy checker")
		os.Exit(1)
	}
	r.Admission = admission
	metrics.Registry.MustRegister(&controller.PhaseCollector{Reader: mgr.GetCache()})
	if err := controller.AddIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		log.Error(err, "Failed to set up the cache indexes")
		os.Exit(1)
	}
	if err := r.SetupWithManager(mgr, c.maxConcurrentReconciles); err != nil {
		log.Error(err, "Failed to set up the PartnerCart controller")
		os.Exit(1)
	}
	accounts := &controller.AccountReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), PartnerCenter: factory,
		CredentialsNamespace: c.reconciler.CredentialsNamespace, WorkloadIdentityTokenPath: c.reconciler.WorkloadIdentityTokenPath}
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
	log.Info("Starting manager", "partnerCenterEndpoint", c.partnerCenter.Endpoint, "authorityHost", c.partnerCenter.AuthorityHost,
		"partnerCenterQPS", c.partnerCenter.QPS, "maxConcurrentReconciles", c.maxConcurrentReconciles, "purchaseFreeze", c.reconciler.PurchaseFreeze,
		"credentialsNamespace", c.reconciler.CredentialsNamespace, "allowNamespaceCredentials", c.allowNamespaceCredentials,
		"receiptNamespace", c.reconciler.ReceiptNamespace)
	startErr := mgr.Start(ctrl.SetupSignalHandler())
	// A lost lease ends Start at once (controller-runtime then skips its graceful shutdown),
	// while a checkout call may be in flight: its answer is recorded before the process goes.
	waitCtx, cancel := context.WithTimeout(context.Background(), gracefulShutdown)
	if err := r.WaitForCheckouts(waitCtx); err != nil {
		log.Error(err, "Exiting with a checkout call in flight")
	}
	cancel()
	if startErr != nil {
		log.Error(startErr, "Manager stopped with an error")
		os.Exit(1)
	}
}

// podNamespace is the namespace the manager runs in: POD_NAMESPACE (the Deployment sets it
// from the downward API), else its service account's namespace; "" outside a pod.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(pcv1alpha1.AddToScheme(s))
	return s
}
