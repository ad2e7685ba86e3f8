// Package testenv starts the local control plane (kube-apiserver and etcd built from source
// into bin/k8s by hack/build-control-plane.sh) with the PartnerCart CRD and the admission
// policy installed. Integration tests, the demo and the benchmarks all use it, so they all run
// against the same real API server.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Scheme *runtime.Scheme
	// Client talks to the API server directly (no cache), for asserting what is stored.
	Client client.Client
}

// RepoRoot returns the repository root, found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir is where kube-apiserver, etcd and kubectl live: $KUBEBUILDER_ASSETS or bin/k8s.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin", "k8s")
}

// NewScheme returns a scheme with the built-in kinds and the PartnerCart API.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := pcv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Start starts etcd and kube-apiserver, installs the CRD from config/crd/bases and the
// admission policy from config/policy, and waits until both are served.
func Start(ctx context.Context) (*Env, error) {
	env, err := NewEnvironment()
	if err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	e := &Env{Environment: env, Config: cfg, Scheme: NewScheme()}
	if e.Client, err = client.New(cfg, client.Options{Scheme: e.Scheme}); err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("create client: %w", err)
	}
	if err := InstallPolicy(ctx, e.Client); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return e, nil
}

// NewEnvironment is the local control plane, not yet started: kube-apiserver and etcd from
// AssetsDir, with the CRD from config/crd/bases installed at start. Callers that need more
// (log files, certificates that survive a restart) set them before Start.
func NewEnvironment() (*envtest.Environment, error) {
	if _, err := os.Stat(filepath.Join(AssetsDir(), "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run 'make control-plane' (or 'make test', which does it): %w", AssetsDir(), err)
	}
	return &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    AssetsDir(),
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  60 * time.Second,
	}, nil
}

// InstallPolicy creates the admission policy of config/policy and waits until it is in
// force. The policies fail closed, and kube-apiserver compiles them asynchronously: a
// PartnerCart written in between is refused (or not stamped), which made first tests flaky.
func InstallPolicy(ctx context.Context, c client.Client) error {
	if err := ApplyDir(ctx, c, filepath.Join(RepoRoot(), "config", "policy")); err != nil {
		return err
	}
	return WaitForPolicy(ctx, c)
}

// WaitForPolicy dry-runs the creation of a PartnerCart until admission accepts it and the
// requester stamp shows that the mutating policies run (also after kube-apiserver restarts).
func WaitForPolicy(ctx context.Context, c client.Client) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		probe := &pcv1alpha1.PartnerCart{
			ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, GenerateName: "policy-probe-"},
			Spec: pcv1alpha1.PartnerCartSpec{
				CustomerID:           "932c4101-dc08-461b-b4c1-75d80e905775",
				CredentialsSecretRef: &pcv1alpha1.SecretReference{Name: "probe"},
				LineItems: []pcv1alpha1.CartLineItem{{LineItemFields: pcv1alpha1.LineItemFields{
					CatalogItemID: "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H", Quantity: 1, BillingCycle: pcv1alpha1.BillingCycleMonthly, TermDuration: "P1Y"}}},
			},
		}
		if last = c.Create(ctx, probe, client.DryRunAll); last != nil {
			return false, nil
		}
		if probe.Spec.Approval.RequestedBy == "" {
			last = errors.New("the requester stamp is not applied yet")
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("admission policy not in force: %w", errors.Join(err, last))
	}
	return nil
}

// ApplyDir creates every object of every *.yaml file in dir, except kustomize's own files.
func ApplyDir(ctx context.Context, c client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if base := filepath.Base(f); base == "kustomization.yaml" || base == "kustomizeconfig.yaml" {
			continue
		}
		if err := ApplyFile(ctx, c, f); err != nil {
			return err
		}
	}
	return nil
}

// ApplyFile creates every object in a multi-document YAML file.
func ApplyFile(ctx context.Context, c client.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	// The file is only read: a Close error cannot lose data, and any read error has
	// already surfaced from Decode.
	defer func() { _ = f.Close() }()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode %s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
		}
	}
}

// RunMain starts the control plane once for a test package, hands it to set, runs the tests
// and stops it: the body of a TestMain. It returns the exit code for os.Exit.
//
// Fuzz workers (`go test -fuzz`) run only the fuzz target, which needs no API server, so they
// skip it: starting one per worker would only load the machine.
func RunMain(m interface{ Run() int }, set func(*Env)) int {
	if slices.ContainsFunc(os.Args[1:], func(a string) bool { return strings.HasPrefix(a, "-test.fuzzworker") }) {
		return m.Run()
	}
	e, err := Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "envtest stop:", err)
		}
	}()
	set(e)
	return m.Run()
}
