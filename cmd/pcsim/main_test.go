package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

func TestParseFlags(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	g.Expect(os.WriteFile(secretFile, []byte("top-secret\n"), 0o600)).To(Succeed())

	cfg, err := parseFlags([]string{
		"--listen", "127.0.0.1:9000", "--client-id", "app", "--client-secret-file", secretFile,
		"--cart-ttl", "1h", "--order-complete-after", "2s", "--token-ttl", "10m", "--latency", "5ms",
		"--fail-rate", "0.1", "--throttle-rate", "0.2", "--drop-after-commit-rate", "0.3", "--retry-after", "7s",
		"--seed", "42", "--known-customers", " a, b ,,c",
	}, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.listen).To(Equal("127.0.0.1:9000"))
	g.Expect(cfg.opts.ClientSecret).To(Equal("top-secret"))
	g.Expect(cfg.opts.CartTTL).To(Equal(time.Hour))
	g.Expect(cfg.opts.OrderCompleteAfter).To(Equal(2 * time.Second))
	g.Expect(cfg.opts.TokenTTL).To(Equal(10 * time.Minute))
	g.Expect(cfg.opts.Latency).To(Equal(5 * time.Millisecond))
	g.Expect(cfg.opts.Faults.FailRate).To(Equal(0.1))
	g.Expect(cfg.opts.Faults.ThrottleRate).To(Equal(0.2))
	g.Expect(cfg.opts.Faults.DropAfterCommitRate).To(Equal(0.3))
	g.Expect(cfg.opts.Faults.RetryAfter).To(Equal(7 * time.Second))
	g.Expect(cfg.opts.Seed).To(Equal(int64(42)))
	g.Expect(cfg.opts.KnownCustomers).To(Equal([]string{"a", "b", "c"}))

	defaults, err := parseFlags(nil, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(defaults.listen).To(Equal("127.0.0.1:8443"))
	g.Expect(defaults.opts.CartTTL).To(Equal(168 * time.Hour))
	g.Expect(defaults.opts.OrderCompleteAfter).To(Equal(5 * time.Second))
	g.Expect(defaults.opts.Catalog).To(BeNil(), "nil selects the embedded catalog")

	for name, args := range map[string][]string{
		"both secrets":       {"--client-id", "a", "--client-secret", "x", "--client-secret-file", secretFile},
		"secret without id":  {"--client-secret", "x"},
		"half a TLS pair":    {"--tls-cert", "c.pem"},
		"missing catalog":    {"--catalog", filepath.Join(dir, "none.json")},
		"missing secretfile": {"--client-id", "a", "--client-secret-file", filepath.Join(dir, "none")},
		"stray argument":     {"serve"},
		"unknown flag":       {"--nope"},
	} {
		_, err := parseFlags(args, &bytes.Buffer{})
		g.Expect(err).To(HaveOccurred(), name)
	}
}

func TestFaultFlags(t *testing.T) {
	g := NewWithT(t)
	const e5 = "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H"
	cfg, err := parseFlags([]string{"--retry-after-date",
		"--checkout-faults", `{"` + e5 + `":{"refuseFirstCheckout":{"status":403},"loseCheckoutAnswer":true}}`,
	}, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.opts.Faults).To(Equal(pcsim.Faults{RetryAfter: time.Second, RetryAfterDate: true,
		CheckoutFaults: map[string]pcsim.CheckoutFault{e5: {
			RefuseFirstCheckout: &pcsim.CheckoutRefusal{Status: 403}, LoseCheckoutAnswer: true,
		}},
	}))

	// A faults file is the base; flags given override its fields, --checkout-faults its map.
	dir := t.TempDir()
	file := filepath.Join(dir, "faults.json")
	g.Expect(os.WriteFile(file, []byte(`{"failRate":0.2,"throttleRate":0.3,"retryAfter":"5s",
		"checkoutFaults":{"`+e5+`":{"checkoutNotFound":true}}}`), 0o600)).To(Succeed())
	cfg, err = parseFlags([]string{"--faults-file", file, "--throttle-rate", "0"}, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.opts.Faults).To(Equal(pcsim.Faults{FailRate: 0.2, RetryAfter: 5 * time.Second,
		CheckoutFaults: map[string]pcsim.CheckoutFault{e5: {CheckoutNotFound: true}}}))
	cfg, err = parseFlags([]string{"--faults-file", file, "--checkout-faults", `{}`}, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.opts.Faults.CheckoutFaults).To(BeEmpty())
	g.Expect(cfg.opts.Faults.FailRate).To(Equal(0.2))

	bad := filepath.Join(dir, "bad.json")
	g.Expect(os.WriteFile(bad, []byte(`{"failProbability":0.2}`), 0o600)).To(Succeed())
	for name, args := range map[string][]string{
		"missing file":  {"--faults-file", filepath.Join(dir, "none.json")},
		"unknown field": {"--faults-file", bad},
		"not JSON":      {"--checkout-faults", "checkoutNotFound"},
		"unknown knob":  {"--checkout-faults", `{"` + e5 + `":{"notFound":true}}`},
		"two values":    {"--checkout-faults", `{} {}`},
	} {
		_, err := parseFlags(args, &bytes.Buffer{})
		g.Expect(err).To(HaveOccurred(), name)
	}
	// Item and status checks happen when the simulator is configured.
	err = run(context.Background(), []string{"--listen", "127.0.0.1:0",
		"--checkout-faults", `{"NOPE:0001:NOPE":{"checkoutNotFound":true}}`}, &bytes.Buffer{}, nil)
	g.Expect(err).To(MatchError(ContainSubstring("not in the catalog")))
}

func TestRunServesAndShutsDown(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--client-id", "app", "--client-secret", "hunter2"},
			&logs, func(a string) { addrs <- a })
	}()
	addr := <-addrs

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/_pcsim/healthz", nil)
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.Body.Close()).To(Succeed())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	cancel()
	g.Expect(<-done).To(Succeed())
	g.Expect(logs.String()).To(ContainSubstring("pcsim listening"))
	g.Expect(logs.String()).To(ContainSubstring("http://" + addr))
	g.Expect(logs.String()).To(ContainSubstring("client ID app"))
	g.Expect(logs.String()).NotTo(ContainSubstring("hunter2"))
}

func TestRunFailsOnABadAddress(t *testing.T) {
	err := run(context.Background(), []string{"--listen", "256.0.0.1:1"}, &bytes.Buffer{}, nil)
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("listen")))
}

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
