// Command e2ekit does what hack/e2e.sh cannot do with kubectl and bash alone:
//
//	e2ekit certificate --out DIR [--common-name NAME]
//	    Generates a self-signed RSA 2048 app certificate: DIR/tls.crt and DIR/tls.key (mode
//	    0600), ready for 'kubectl create secret tls'. Prints the x5t#S256 thumbprint only.
//	e2ekit leaks --kubeconfig FILE [--secret-file FILE] [--namespaces NS,...] LOG...
//	    The leak scan of internal/harness over log files and the cluster (PartnerCenterAccounts,
//	    and the namespaces' PartnerCarts, events and receipts): no client secret, bearer or
//	    access token, private key or signed JWT. Exits 1 and names each leak (with the secret
//	    itself redacted) if it finds any.
//
// Build it with 'go build -o bin/e2ekit ./hack/e2ekit' (make test-e2e does).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/partnercart/partnercart-operator/internal/harness"
	"github.com/partnercart/partnercart-operator/internal/partnercenter/authtest"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

const usage = `usage:
  e2ekit certificate --out DIR [--common-name NAME]
  e2ekit leaks --kubeconfig FILE [--secret-file FILE] [--namespaces NS,...] LOG...`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "certificate":
		err = certificate(args)
	case "leaks":
		err = leaks(args)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2ekit:", err)
		os.Exit(1)
	}
}

// certificate writes a fresh self-signed app certificate and its key.
func certificate(args []string) error {
	fs := flag.NewFlagSet("certificate", flag.ExitOnError)
	out := fs.String("out", "", "directory to write tls.crt and tls.key to (required)")
	cn := fs.String("common-name", "partnercart-e2e-app", "the certificate's subject common name")
	validFor := fs.Duration("valid-for", 24*time.Hour, "how long the certificate is valid")
	_ = fs.Parse(args)
	if *out == "" || fs.NArg() > 0 {
		return errors.New("certificate needs --out DIR and no arguments")
	}
	cert, err := authtest.GenerateCertificate(*cn, *validFor)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "tls.key"), []byte(cert.KeyPEM), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "tls.crt"), []byte(cert.CertPEM), 0o644); err != nil {
		return err
	}
	fmt.Printf("x5t#S256=%s\n", cert.Thumbprint())
	return nil
}

// leaks scans the logs and the cluster.
func leaks(args []string) error {
	fs := flag.NewFlagSet("leaks", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster to scan (required)")
	secretFile := fs.String("secret-file", "", "file holding a client secret that must appear nowhere")
	namespaces := fs.String("namespaces", "", "comma-separated namespaces whose carts, events and receipts are scanned")
	_ = fs.Parse(args)
	if *kubeconfig == "" {
		return errors.New("leaks needs --kubeconfig")
	}
	var scanner harness.Scanner
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		scanner.Secrets = append(scanner.Secrets, strings.TrimSpace(string(b)))
	}
	found, err := scanner.ScanFiles(fs.Args()...)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: testenv.NewScheme()})
	if err != nil {
		return err
	}
	var nss []string
	for ns := range strings.SplitSeq(*namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			nss = append(nss, ns)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inCluster, err := scanner.ScanCluster(ctx, c, nss)
	if err != nil {
		return err
	}
	found = append(found, inCluster...)
	for _, l := range found {
		fmt.Println("LEAK:", l)
	}
	if len(found) > 0 {
		return fmt.Errorf("%d leak(s)", len(found))
	}
	fmt.Printf("no leak in %d log file(s), the PartnerCenterAccounts and %d namespace(s)\n", fs.NArg(), len(nss))
	return nil
}
