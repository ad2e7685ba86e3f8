package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

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
