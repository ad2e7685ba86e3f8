// Package harness runs the operator the way it runs in production, as separate processes,
// for the chaos test (test/chaos) and the benchmark (test/bench): a local control plane
// (etcd and kube-apiserver from bin/k8s, through envtest) that can be restarted in place,
// pcsim and the manager binary, each a child process whose logs go to files, plus the
// helpers to create carts, read metrics and check that no secret leaked.
//
// Every child is registered, and KillAll (deferred by the programs, and run on SIGINT and
// SIGTERM by HandleSignals) kills them all, so a failed or interrupted run leaves nothing
// behind.
package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// ControlPlane is etcd and kube-apiserver with the PartnerCart CRD and admission policy.
type ControlPlane struct {
	env *envtest.Environment
	// Config is an admin config (system:masters) for the harness's own client.
	Config *rest.Config
	// Client talks to the API server directly, without a cache.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file for the manager (system:masters).
	Kubeconfig string

	certDir  string
	logs     []*os.File
	stopOnce sync.Once
}

// StartControlPlane starts etcd and kube-apiserver, writes their output under dir, installs
// the CRD and the admission policy, and writes dir/kubeconfig for the manager.
//
// The API server's certificate directory is fixed (dir/apiserver-certs) rather than a
// temporary one, so that RestartAPIServer brings it back on the same port with the same
// serving certificate and client CA: kubeconfigs written before the restart stay valid.
// etcd keeps running across the restart, so no data is lost.
func StartControlPlane(ctx context.Context, dir string) (*ControlPlane, error) {
	env, err := testenv.NewEnvironment()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cp := &ControlPlane{certDir: filepath.Join(dir, "apiserver-certs")}
	_ = os.RemoveAll(cp.certDir)
	if err := os.MkdirAll(cp.certDir, 0o700); err != nil {
		return nil, err
	}
	apiLog, err := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	etcdLog, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	cp.logs = []*os.File{apiLog, etcdLog}
	cp.env = env
	cp.env.ControlPlaneStartTimeout = 90 * time.Second
	// A kube-apiserver that has not exited 15s after SIGTERM gets SIGKILL, so that a stuck
	// graceful shutdown cannot turn a chaos outage of seconds into a minute.
	cp.env.ControlPlaneStopTimeout = 15 * time.Second
	api := cp.env.ControlPlane.GetAPIServer()
	api.CertDir = cp.certDir
	// Without it, kube-apiserver does not end the watches in flight when it shuts down, so a
	// graceful stop waits for every watching client (a manager that has been up for a while)
	// up to its 60s shutdown timeout; with it, watches end at once, as on a production API
	// server, and clients re-establish them on the restarted one.
	api.Configure().Set("shutdown-watch-termination-grace-period", "2s")
	api.Out, api.Err = apiLog, apiLog
	// envtest would pick the port with :0, inside the ephemeral range, where an outgoing
	// connection can take it while kube-apiserver is down for a restart; FreeAddr's comes
	// from below that range.
	apiAddr, err := FreeAddr()
	if err != nil {
		cp.closeLogs()
		return nil, err
	}
	api.Address, api.Port, _ = net.SplitHostPort(apiAddr) // its SecureServing address
	cp.env.ControlPlane.Etcd = &envtest.Etcd{Out: etcdLog, Err: etcdLog}
	cfg, err := cp.env.Start()
	if err != nil {
		cp.closeLogs()
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	registerCleanup(cp.Stop)
	cfg.QPS, cfg.Burst = 2000, 4000
	cp.Config = cfg
	if cp.Client, err = client.New(cfg, client.Options{Scheme: testenv.NewScheme()}); err != nil {
		cp.Stop()
		return nil, fmt.Errorf("create client: %w", err)
	}
	if err := testenv.InstallPolicy(ctx, cp.Client); err != nil {
		cp.Stop()
		return nil, err
	}
	user, err := cp.env.AddUser(envtest.User{Name: "partnercart-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		cp.Stop()
		return nil, fmt.Errorf("add manager user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		cp.Stop()
		return nil, fmt.Errorf("manager kubeconfig: %w", err)
	}
	cp.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(cp.Kubeconfig, kc, 0o600); err != nil {
		cp.Stop()
		return nil, err
	}
	return cp, nil
}

// StopAPIServer stops kube-apiserver gracefully (SIGTERM), leaving etcd running. One that
// has not exited within 15s gets SIGKILL; that is still an outage, and it reports killed.
func (cp *ControlPlane) StopAPIServer() (killed bool, err error) {
	err = cp.env.ControlPlane.GetAPIServer().Stop()
	if err != nil && strings.Contains(err.Error(), "timeout waiting for process") && !strings.Contains(err.Error(), "unable to kill") {
		return true, nil
	}
	return false, err
}

// StartAPIServer starts kube-apiserver again, on the same port with the same certificates,
// and waits until it reports healthy.
func (cp *ControlPlane) StartAPIServer() error {
	return cp.env.ControlPlane.GetAPIServer().Start()
}

// Stop stops kube-apiserver and etcd and removes the certificate directory.
func (cp *ControlPlane) Stop() {
	cp.stopOnce.Do(func() {
		_ = cp.env.Stop()
		_ = os.RemoveAll(cp.certDir)
		cp.closeLogs()
	})
}

func (cp *ControlPlane) closeLogs() {
	for _, f := range cp.logs {
		_ = f.Close()
	}
	cp.logs = nil
}
