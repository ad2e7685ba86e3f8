package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// Secret patterns, besides the Scanner's literal secrets: a bearer token in any header-like
// form, an OAuth2 token response, the shape of pcsim's tokens (two rand.Text() values: 52
// characters of base32), a PEM private key (an account's certificate key), and a signed JWT
// (a client assertion, or the service-account token a workload-identity account presents).
var leakPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"a bearer token", regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9\-._~+/]{16,}=*`)},
	{"an OAuth2 token response", regexp.MustCompile(`(?i)"?access_token"?\s*[:=]`)},
	{"a pcsim access token", regexp.MustCompile(`\b[A-Z2-7]{52}\b`)},
	{"a private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----|\\n?MII[A-Za-z0-9+/]{60,}`)},
	{"a signed JWT", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`)},
}

// Leak is a place where a secret or a token appeared.
type Leak struct {
	Where   string
	Pattern string
	Excerpt string
}

func (l Leak) String() string { return fmt.Sprintf("%s: %s in %q", l.Where, l.Pattern, l.Excerpt) }

// Scanner looks for leaks: the patterns above and its literal Secrets (client secrets the
// run configured), which it never repeats in a report.
type Scanner struct {
	Secrets []string
}

// defaultScanner knows the harness's own client secret.
var defaultScanner = Scanner{Secrets: []string{ClientSecret}}

// ScanText reports every leak pattern, and the harness's client secret, found in text.
func ScanText(where, text string) []Leak { return defaultScanner.ScanText(where, text) }

// ScanFiles scans log files for the patterns and the harness's client secret.
func ScanFiles(paths ...string) ([]Leak, error) { return defaultScanner.ScanFiles(paths...) }

// ScanCluster scans the cluster for the patterns and the harness's client secret (see
// Scanner.ScanCluster).
func ScanCluster(ctx context.Context, c client.Client, namespaces []string) ([]Leak, error) {
	return defaultScanner.ScanCluster(ctx, c, namespaces)
}

// ScanText reports every leak found in text.
func (s Scanner) ScanText(where, text string) []Leak {
	var out []Leak
	report := func(pattern string, locs [][]int) {
		for _, loc := range locs {
			from, to := max(0, loc[0]-60), min(len(text), loc[1]+20)
			out = append(out, Leak{Where: where, Pattern: pattern, Excerpt: s.redact(text[from:to])})
		}
	}
	for _, secret := range s.Secrets {
		if secret != "" {
			report("a client secret", regexp.MustCompile(regexp.QuoteMeta(secret)).FindAllStringIndex(text, 3))
		}
	}
	for _, p := range leakPatterns {
		report(p.name, p.re.FindAllStringIndex(text, 3))
	}
	return out
}

// redact hides the literal secrets in an excerpt; a partial one at its edges is cut off.
func (s Scanner) redact(excerpt string) string {
	for _, secret := range s.Secrets {
		if secret == "" {
			continue
		}
		excerpt = strings.ReplaceAll(excerpt, secret, "<CLIENT-SECRET>")
		// The excerpt may start or end inside the secret.
		for n := len(secret) - 1; n >= 8; n-- {
			if strings.HasPrefix(excerpt, secret[len(secret)-n:]) {
				excerpt = "<CLIENT-SECRET>" + excerpt[n:]
				break
			}
		}
		for n := len(secret) - 1; n >= 8; n-- {
			if strings.HasSuffix(excerpt, secret[:n]) {
				excerpt = excerpt[:len(excerpt)-n] + "<CLIENT-SECRET>"
				break
			}
		}
	}
	return excerpt
}

// ScanFiles scans log files.
func (s Scanner) ScanFiles(paths ...string) ([]Leak, error) {
	var out []Leak
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		out = append(out, s.ScanText(p, string(b))...)
	}
	return out, nil
}

// ScanCluster scans every PartnerCenterAccount and, in the namespaces, every Event
// (events.k8s.io and core), every PartnerCart (spec, status and all) and every receipt
// ConfigMap.
func (s Scanner) ScanCluster(ctx context.Context, c client.Client, namespaces []string) ([]Leak, error) {
	var out []Leak
	scan := func(where string, obj any) error {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		out = append(out, s.ScanText(where, string(b))...)
		return nil
	}
	accounts := &pcv1alpha1.PartnerCenterAccountList{}
	if err := c.List(ctx, accounts); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	if err := scan("PartnerCenterAccounts", accounts); err != nil {
		return nil, err
	}
	for _, ns := range namespaces {
		ev := &eventsv1.EventList{}
		if err := c.List(ctx, ev, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		if err := scan("events.k8s.io events in "+ns, ev); err != nil {
			return nil, err
		}
		cev := &corev1.EventList{}
		if err := c.List(ctx, cev, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("list core events: %w", err)
		}
		if err := scan("core events in "+ns, cev); err != nil {
			return nil, err
		}
		carts := &pcv1alpha1.PartnerCartList{}
		if err := c.List(ctx, carts, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		if err := scan("PartnerCarts in "+ns, carts); err != nil {
			return nil, err
		}
		receipts, err := ListReceipts(ctx, c, []string{ns})
		if err != nil {
			return nil, err
		}
		if err := scan("receipts in "+ns, receipts); err != nil {
			return nil, err
		}
	}
	return out, nil
}
