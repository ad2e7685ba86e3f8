// Command localcp runs the local control plane in the foreground: etcd and kube-apiserver
// from bin/k8s (or $KUBEBUILDER_ASSETS), with the PartnerCart CRD and the admission policy
// installed, exactly as the integration tests get it from internal/testenv.
//
// It writes an admin (system:masters) kubeconfig to --kubeconfig, prints "ready" on stdout
// once the API server serves the CRD and the policy, and on SIGINT or SIGTERM stops
// kube-apiserver and etcd and removes their data. It has no kube-controller-manager; of its
// controllers it runs only the ClusterRole aggregation (aggregate.go), so that roles labelled
// aggregate-to-edit/view/admin reach edit, view and admin as in a cluster. The demo and the end-to-end suite
// (hack/demo.sh, hack/e2e.sh) run it as a process of its own:
//
//	go build -o bin/localcp ./hack/localcp
//	bin/localcp --kubeconfig tmp/kubeconfig
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

func main() {
	// A FlagSet of its own: controller-runtime registers a global --kubeconfig flag to read one.
	fs := flag.NewFlagSet("localcp", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "file to write the admin kubeconfig to (required)")
	_ = fs.Parse(os.Args[1:])
	if *kubeconfig == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: localcp --kubeconfig PATH")
		os.Exit(2)
	}
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "localcp:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) (err error) {
	// envtest logs through controller-runtime; its output is not useful here.
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	fmt.Fprintf(os.Stderr, "localcp: starting etcd and kube-apiserver from %s\n", testenv.AssetsDir())
	env, err := testenv.Start(ctx)
	if err != nil {
		return err
	}
	// From here on, every way out stops the control plane.
	defer func() {
		fmt.Fprintln(os.Stderr, "localcp: stopping kube-apiserver and etcd")
		if stopErr := env.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop control plane: %w", stopErr))
			return
		}
		_ = os.Remove(kubeconfig)
		fmt.Fprintln(os.Stderr, "localcp: stopped")
	}()

	if err := writeKubeconfig(kubeconfig, env.KubeConfig); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "localcp: kube-apiserver serving at %s (started in %s); kubeconfig %s\n",
		env.Config.Host, time.Since(start).Round(100*time.Millisecond), kubeconfig)
	// kube-controller-manager's ClusterRole aggregation, which the built-in admin, edit and view
	// roles (and the project's, config/rbac/partnercart_{editor,viewer}_role.yaml) rely on.
	if err := aggregateOnce(ctx, env.Client); err != nil {
		return err
	}
	go aggregateRoles(ctx, env.Client, time.Second)

	// The readiness signal scripts wait for.
	fmt.Println("ready")

	<-ctx.Done()
	return nil
}

// writeKubeconfig writes the file atomically, readable by its owner only (it holds a client key).
func writeKubeconfig(path string, data []byte) error {
	if len(data) == 0 {
		return errors.New("the control plane gave no kubeconfig")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
