// Command pcsim serves the Partner Center simulator of internal/pcsim on a port: the token
// endpoint, the carts and orders API and the /_pcsim admin endpoints. See docs/pcsim.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/partnercart/partnercart-operator/internal/pcsim"
)

// shutdownTimeout bounds how long in-flight requests may finish after SIGINT/SIGTERM.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pcsim:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	listen           string
	tlsCert, tlsKey  string
	catalogPath      string
	clientSecretFile string
	opts             pcsim.Options
	// Sign-in with assertions (see auth.go).
	clientCertFile    string
	federated         pcsim.FederatedCredential
	federatedJWKSFile string
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("pcsim", flag.ContinueOnError)
	fs.SetOutput(out)
	var knownCustomers, faultsFile, checkoutFaults string
	var faults pcsim.Faults
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8443", "address to listen on")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "TLS certificate file (with --tls-key; plain HTTP without)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "TLS private key file")
	fs.StringVar(&cfg.catalogPath, "catalog", "", "catalog JSON file (default: the embedded catalog)")
	fs.StringVar(&cfg.opts.ClientID, "client-id", "", "the only client ID that gets a token (default: any)")
	fs.StringVar(&cfg.opts.ClientSecret, "client-secret", "", "its secret (prefer --client-secret-file)")
	fs.StringVar(&cfg.clientSecretFile, "client-secret-file", "", "file holding the client secret")
	cfg.authFlags(fs)
	fs.DurationVar(&cfg.opts.CartTTL, "cart-ttl", pcsim.DefaultCartTTL, "time from cart creation to expiry")
	fs.DurationVar(&cfg.opts.OrderCompleteAfter, "order-complete-after", pcsim.DefaultOrderCompleteAfter,
		"time after which a pending order reaches its final status")
	fs.DurationVar(&cfg.opts.TokenTTL, "token-ttl", pcsim.DefaultTokenTTL, "access token lifetime")
	fs.DurationVar(&cfg.opts.Latency, "latency", 0, "latency added to every API request")
	fs.DurationVar(&cfg.opts.CheckoutDuration, "checkout-duration", 0,
		"how long a checkout holds its cart (concurrent checkouts get 409 800064)")
	fs.BoolVar(&cfg.opts.OrderGroupPerLine, "order-group-per-line", false,
		"put every top-level cart line in an order group of its own (one order per line)")
	fs.IntVar(&cfg.opts.OrdersPageSize, "orders-page-size", 0,
		"orders per page of GET .../orders, continued with links.next and MS-ContinuationToken (0: one page)")
	fs.DurationVar(&cfg.opts.OrderListingDelay, "order-listing-delay", 0,
		"time after its creation before an order is listed in GET .../orders (Partner Center: up to 15m)")
	fs.Float64Var(&faults.FailRate, "fail-rate", 0, "probability of a 500 (code 800003) before doing anything")
	fs.Float64Var(&faults.ThrottleRate, "throttle-rate", 0, "probability of a 429 with Retry-After")
	fs.Float64Var(&faults.DropAfterCommitRate, "drop-after-commit-rate", 0,
		"probability that a POST or PUT commits and then drops the connection")
	fs.DurationVar(&faults.RetryAfter, "retry-after", time.Second, "Retry-After sent with 429s")
	fs.BoolVar(&faults.RetryAfterDate, "retry-after-date", false,
		"send Retry-After as an HTTP date (now + --retry-after) instead of seconds")
	fs.StringVar(&faultsFile, "faults-file", "",
		"JSON file of faults, as PUT /_pcsim/faults takes; fault flags given too override its fields")
	fs.StringVar(&checkoutFaults, "checkout-faults", "",
		`checkout faults by catalog item ID as JSON, e.g. '{"<catalogItemId>":{"checkoutNotFound":true}}'`)
	fs.IntVar(&cfg.opts.RateLimit, "rate-limit", 0,
		"requests per minute per partner tenant (sliding window); over it: 429 with Retry-After (0: unlimited)")
	fs.Int64Var(&cfg.opts.Seed, "seed", 0, "seed of the fault decisions")
	fs.StringVar(&knownCustomers, "known-customers", "", "comma-separated customer IDs that exist (default: all)")
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.opts.Faults, err = combineFaults(faults, set, faultsFile, checkoutFaults); err != nil {
		return nil, err
	}
	cfg.opts.KnownCustomers = splitList(knownCustomers)
	if err := cfg.resolveFiles(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// combineFaults starts from the faults file, if any, and lays over it the fault flags that
// were given (all of them, defaults included, when there is no file) and --checkout-faults.
// Both JSON inputs reject unknown fields; pcsim.New validates the result.
func combineFaults(flags pcsim.Faults, set map[string]bool, file, checkoutJSON string) (pcsim.Faults, error) {
	if file == "" {
		return flags, setCheckoutFaults(&flags, checkoutJSON)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return pcsim.Faults{}, fmt.Errorf("read faults: %w", err)
	}
	var f pcsim.Faults
	if err := json.Unmarshal(b, &f); err != nil {
		return pcsim.Faults{}, fmt.Errorf("faults file %s: %w", file, err)
	}
	for name, apply := range map[string]func(){
		"fail-rate":              func() { f.FailRate = flags.FailRate },
		"throttle-rate":          func() { f.ThrottleRate = flags.ThrottleRate },
		"drop-after-commit-rate": func() { f.DropAfterCommitRate = flags.DropAfterCommitRate },
		"retry-after":            func() { f.RetryAfter = flags.RetryAfter },
		"retry-after-date":       func() { f.RetryAfterDate = flags.RetryAfterDate },
	} {
		if set[name] {
			apply()
		}
	}
	return f, setCheckoutFaults(&f, checkoutJSON)
}

// setCheckoutFaults replaces f's checkout faults with the --checkout-faults JSON, if given.
func setCheckoutFaults(f *pcsim.Faults, checkoutJSON string) error {
	if checkoutJSON == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(checkoutJSON))
	dec.DisallowUnknownFields()
	var cfs map[string]pcsim.CheckoutFault
	if err := dec.Decode(&cfs); err != nil {
		return fmt.Errorf("--checkout-faults: %w", err)
	}
	if dec.More() {
		return errors.New("--checkout-faults: more than one JSON value")
	}
	f.CheckoutFaults = cfs
	return nil
}

// resolveFiles reads the secret and catalog files and checks the TLS pair.
func (c *config) resolveFiles() error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.clientSecretFile != "" {
		if c.opts.ClientSecret != "" {
			return errors.New("use either --client-secret or --client-secret-file, not both")
		}
		b, err := os.ReadFile(c.clientSecretFile)
		if err != nil {
			return fmt.Errorf("read client secret: %w", err)
		}
		c.opts.ClientSecret = strings.TrimSpace(string(b))
	}
	if c.opts.ClientSecret != "" && c.opts.ClientID == "" {
		return errors.New("--client-secret needs --client-id")
	}
	if err := c.resolveAuthFiles(); err != nil {
		return err
	}
	if c.catalogPath != "" {
		cat, err := pcsim.LoadCatalog(c.catalogPath)
		if err != nil {
			return err
		}
		c.opts.Catalog = cat
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// run serves until ctx ends, then shuts down gracefully. ready, if set, gets the bound
// address once the listener is open (tests listen on port 0).
func run(ctx context.Context, args []string, logw io.Writer, ready func(addr string)) error {
	cfg, err := parseFlags(args, logw)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	sim, err := pcsim.New(cfg.opts)
	if err != nil {
		return fmt.Errorf("configure simulator: %w", err)
	}
	// ctx ending means "shut down", which the select below does after a clean start; it
	// does not abort opening the listener, so a signal during start-up still exits cleanly.
	var lc net.ListenConfig
	ln, err := lc.Listen(context.WithoutCancel(ctx), "tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() {
		if cfg.tlsCert != "" {
			serveErr <- hs.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey)
			return
		}
		serveErr <- hs.Serve(ln)
	}()
	logStart(logw, cfg, ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// logStart writes the one start-up line. It names the client ID but never the secret.
func logStart(w io.Writer, cfg *config, addr string) {
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
	}
	auth := "any client credentials"
	if cfg.opts.ClientID != "" {
		auth = "client ID " + cfg.opts.ClientID
	}
	auth += authMethods(cfg)
	catalog := "embedded"
	if cfg.catalogPath != "" {
		catalog = cfg.catalogPath
	}
	attrs := []any{"url", scheme + "://" + addr, "auth", auth, "catalog", catalog, "seed", cfg.opts.Seed}
	if n := len(cfg.opts.Faults.CheckoutFaults); n > 0 {
		attrs = append(attrs, "checkoutFaults", n)
	}
	slog.New(slog.NewTextHandler(w, nil)).Info("pcsim listening", attrs...)
}
