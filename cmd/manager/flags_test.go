package main

import (
	"bytes"
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := parseFlags(nil, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.reconciler.DenyNamespaceCredentials || !c.allowNamespaceCredentials {
			t.Error("namespace credentials are allowed by default")
		}
		if c.secureMetrics != true || c.metricsAddr != "0" {
			t.Errorf("metrics: secure %v at %q, want secure and off", c.secureMetrics, c.metricsAddr)
		}
	})
	t.Run("a shutdown waits for a checkout in flight as long as the help text says", func(t *testing.T) {
		c, err := parseFlags([]string{"--partner-center-checkout-timeout=1m"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		// The usage text of --partner-center-checkout-timeout promises "this long (plus 40s)".
		if got := c.gracefulShutdown(); got != time.Minute+40*time.Second {
			t.Errorf("graceful shutdown %v, want 1m40s", got)
		}
		if c.reconciler.CheckoutTimeout <= c.partnerCenter.CheckoutTimeout || c.reconciler.CheckoutTimeout >= c.gracefulShutdown() {
			t.Errorf("the reconciler's checkout timeout %v must cover the call (%v) and end before the shutdown does (%v)",
				c.reconciler.CheckoutTimeout, c.partnerCenter.CheckoutTimeout, c.gracefulShutdown())
		}
	})
	t.Run("only accounts buy", func(t *testing.T) {
		c, err := parseFlags([]string{"--allow-namespace-credentials=false", "--credentials-namespace", "partner-accounts"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if !c.reconciler.DenyNamespaceCredentials || c.reconciler.CredentialsNamespace != "partner-accounts" {
			t.Errorf("deny %v, namespace %q", c.reconciler.DenyNamespaceCredentials, c.reconciler.CredentialsNamespace)
		}
	})
	t.Run("the manager's own flags and controller-runtime's", func(t *testing.T) {
		c, err := parseFlags([]string{"--kubeconfig", "/tmp/kc", "--zap-log-level=debug", "--partner-center-qps=2.5", "--order-poll-interval=2s"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.partnerCenter.QPS != 2.5 || c.reconciler.OrderPollInterval != 2*time.Second {
			t.Errorf("qps %v, poll %v", c.partnerCenter.QPS, c.reconciler.OrderPollInterval)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"accounts only, without their namespace", []string{"--allow-namespace-credentials=false"}, "--credentials-namespace"},
		{"a bad value", []string{"--partner-center-qps=fast"}, "-partner-center-qps"},
		{"an unknown flag", []string{"--partner-center-bursts=3"}, "partner-center-bursts"},
		{"an argument", []string{"--leader-elect", "production"}, "production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &bytes.Buffer{}
			_, err := parseFlags(tc.args, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		out := &bytes.Buffer{}
		if _, err := parseFlags([]string{"-help"}, out); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("error %v, want flag.ErrHelp", err)
		}
		for _, f := range []string{"-kubeconfig", "-partner-center-endpoint", "-purchase-freeze", "-zap-log-level"} {
			if !regexp.MustCompile(`(?m)^\s+` + f + `( |$)`).MatchString(out.String()) {
				t.Errorf("usage lacks %s:\n%s", f, out)
			}
		}
	})
}
