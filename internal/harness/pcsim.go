package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/partnercart/partnercart-operator/internal/partnercenter"
	"github.com/partnercart/partnercart-operator/internal/pcsim"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// Test credentials. The secret is what the leak checks look for.
const (
	TenantID     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	ClientID     = "6f1b3a52-5c1e-4d1e-9c64-0d3b1f0e7a11"
	ClientSecret = "harness-s3cr3t-that-must-never-leak-7f3c9a"
	CustomerID   = "932c4101-dc08-461b-b4c1-75d80e905775"
)

// Pcsim is bin/pcsim running as a child process.
type Pcsim struct {
	*Process
	URL string
	hc  *http.Client
}

// StartPcsim starts bin/pcsim on a free port with the harness's client credentials and
// extra flags, and waits until it is healthy. Its log is dir/pcsim.log.
func StartPcsim(ctx context.Context, dir string, flags ...string) (*Pcsim, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	secretFile := filepath.Join(dir, "pcsim-client-secret")
	if err := os.WriteFile(secretFile, []byte(ClientSecret), 0o600); err != nil {
		return nil, err
	}
	args := append([]string{"--listen", addr, "--client-id", ClientID, "--client-secret-file", secretFile}, flags...)
	p, err := StartProcess("pcsim", filepath.Join(dir, "pcsim.log"), BinPath("pcsim"), args...)
	if err != nil {
		return nil, err
	}
	s := &Pcsim{Process: p, URL: "http://" + addr, hc: &http.Client{Timeout: 30 * time.Second}}
	if err := WaitHTTP(ctx, p, s.URL+"/_pcsim/healthz", 30*time.Second); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return s, nil
}

// Stats reads /_pcsim/stats.
func (s *Pcsim) Stats(ctx context.Context) (*pcsim.Stats, error) {
	st := &pcsim.Stats{}
	return st, s.getJSON(ctx, "/_pcsim/stats", st)
}

// Orders reads /_pcsim/orders: every order pcsim ever created.
func (s *Pcsim) Orders(ctx context.Context) ([]pcsim.OrderRecord, error) {
	var out []pcsim.OrderRecord
	return out, s.getJSON(ctx, "/_pcsim/orders", &out)
}

// CustomerOrders reads every order of a customer, with its lines, through pcsim's Partner
// Center API (GET /v1/customers/{id}/orders) with the harness's client credentials. pcsim's
// random faults apply to these calls as to any client's, so each is retried; call it after
// the run, since it draws from the fault sequence.
func (s *Pcsim) CustomerOrders(ctx context.Context, customerID string) ([]partnercenter.Order, error) {
	var last error
	for range 50 {
		orders, err := s.customerOrders(ctx, customerID)
		if err == nil {
			return orders, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list orders of %s: %w (last error: %w)", customerID, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("list orders of %s: %w", customerID, last)
}

func (s *Pcsim) customerOrders(ctx context.Context, customerID string) ([]partnercenter.Order, error) {
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {ClientSecret},
		"scope": {partnercenter.DefaultScope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/"+TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := s.do(req, &tok); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/customers/"+url.PathEscape(customerID)+"/orders", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var coll partnercenter.OrderCollection
	if err := s.do(req, &coll); err != nil {
		return nil, err
	}
	return coll.Items, nil
}

// do sends req and decodes a 200 answer into out. Errors never carry the body (it may hold a
// token).
func (s *Pcsim) do(req *http.Request, out any) error {
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func (s *Pcsim) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("pcsim %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pcsim %s: HTTP %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("pcsim %s: %w", path, err)
	}
	return nil
}

// Calls sums a Stats request map per operation, over every status.
func Calls(st *pcsim.Stats) map[string]int {
	out := map[string]int{}
	for op, byStatus := range st.Requests {
		for _, n := range byStatus {
			out[op] += n
		}
	}
	return out
}

// BinPath is bin/<name> in the repository, built by 'make build'.
func BinPath(name string) string {
	return filepath.Join(testenv.RepoRoot(), "bin", name)
}
