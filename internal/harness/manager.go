package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ManagerConfig is how the harness runs bin/manager.
type ManagerConfig struct {
	// Name prefixes the log files (default "manager"), so that two managers can share Dir.
	Name string
	// Dir receives <Name>-NN.log, one file per start.
	Dir        string
	Kubeconfig string
	// PartnerCenterURL is pcsim's URL, used as endpoint and authority host.
	PartnerCenterURL string
	// Flags are extra flags, e.g. --order-poll-interval.
	Flags []string
	// Env is extra environment for the manager only, e.g. GOMEMLIMIT=128MiB.
	Env []string
	// Pprof serves the Go profiler on a free local port (PprofURL).
	Pprof bool
}

// Manager is bin/manager, restartable. Each start gets fresh metrics and probe ports.
type Manager struct {
	cfg    ManagerConfig
	Starts int
	*Process
	MetricsURL string
	HealthURL  string
	// PprofURL is the profiler's base URL (…/debug/pprof/) when ManagerConfig.Pprof is set.
	PprofURL string
}

// NewManager prepares a manager; Start runs it.
func NewManager(cfg ManagerConfig) *Manager { return &Manager{cfg: cfg} }

// Start starts a new manager process. It does not wait for it to be ready; see WaitReady.
func (m *Manager) Start() error {
	metricsAddr, err := FreeAddr()
	if err != nil {
		return err
	}
	probeAddr, err := FreeAddr()
	if err != nil {
		return err
	}
	m.Starts++
	args := append([]string{
		"--kubeconfig", m.cfg.Kubeconfig,
		"--partner-center-endpoint", m.cfg.PartnerCenterURL,
		"--authority-host", m.cfg.PartnerCenterURL,
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address", probeAddr,
		"--receipt-namespace", ReceiptNamespace, // CreateNamespaces creates it
	}, m.cfg.Flags...)
	m.PprofURL = ""
	if m.cfg.Pprof {
		pprofAddr, err := FreeAddr()
		if err != nil {
			return err
		}
		args = append(args, "--pprof-bind-address", pprofAddr)
		m.PprofURL = "http://" + pprofAddr + "/debug/pprof/"
	}
	logPath := m.logPath(m.Starts)
	p, err := StartProcessEnv(m.name(), logPath, m.cfg.Env, BinPath("manager"), args...)
	if err != nil {
		return err
	}
	m.Process = p
	m.MetricsURL = "http://" + metricsAddr + "/metrics"
	m.HealthURL = "http://" + probeAddr + "/healthz"
	return nil
}

// WaitReady waits until the manager's health probe answers.
func (m *Manager) WaitReady(ctx context.Context, timeout time.Duration) error {
	return WaitHTTP(ctx, m.Process, m.HealthURL, timeout)
}

// LogFiles lists every manager log written so far.
func (m *Manager) LogFiles() []string {
	var out []string
	for i := 1; i <= m.Starts; i++ {
		out = append(out, m.logPath(i))
	}
	return out
}

func (m *Manager) name() string {
	if m.cfg.Name == "" {
		return "manager"
	}
	return m.cfg.Name
}

func (m *Manager) logPath(start int) string {
	return filepath.Join(m.cfg.Dir, fmt.Sprintf("%s-%02d.log", m.name(), start))
}

// SaveHeapProfile writes the manager's heap profile (after a collection, as pprof's gc=1
// asks) to path, for `go tool pprof -top -sample_index=inuse_space bin/manager path`.
func (m *Manager) SaveHeapProfile(ctx context.Context, path string) error {
	if m.PprofURL == "" {
		return errors.New("the manager was started without a profiler")
	}
	return SaveProfile(ctx, http.DefaultClient, m.PprofURL+"heap?gc=1", path, 30*time.Second)
}

// SaveCPUProfile writes a CPU profile of the manager's next d to path.
func (m *Manager) SaveCPUProfile(ctx context.Context, d time.Duration, path string) error {
	if m.PprofURL == "" {
		return errors.New("the manager was started without a profiler")
	}
	return SaveProfile(ctx, http.DefaultClient, fmt.Sprintf("%sprofile?seconds=%d", m.PprofURL, int(d.Seconds())), path, d+30*time.Second)
}

// SaveProfile GETs a pprof endpoint's answer with hc (kube-apiserver's needs its client
// certificate) and writes it to path.
func SaveProfile(ctx context.Context, hc *http.Client, url, path string, timeout time.Duration) error {
	return Get(ctx, hc, url, timeout, "profile", func(body io.Reader) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, body); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	})
}

// Metrics scrapes the manager's metrics endpoint.
func (m *Manager) Metrics(ctx context.Context) (Metrics, error) {
	return Scrape(ctx, http.DefaultClient, m.MetricsURL, 5*time.Second)
}

// Scrape GETs a Prometheus metrics endpoint with hc within timeout and parses the answer.
func Scrape(ctx context.Context, hc *http.Client, url string, timeout time.Duration) (Metrics, error) {
	var ms Metrics
	err := Get(ctx, hc, url, timeout, "metrics", func(body io.Reader) (err error) {
		ms, err = ParseMetrics(body)
		return err
	})
	return ms, err
}

// Get GETs url with hc within timeout and hands a 200 answer's body to read; what names the
// endpoint in errors.
func Get(ctx context.Context, hc *http.Client, url string, timeout time.Duration, what string, read func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
	}
	return read(resp.Body)
}

// Sample is one sample of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics is a scrape: every sample, in order.
type Metrics []Sample

// Sum adds the samples called name whose labels satisfy match (nil matches all).
func (ms Metrics) Sum(name string, match func(map[string]string) bool) float64 {
	total := 0.0
	for _, s := range ms {
		if s.Name == name && (match == nil || match(s.Labels)) {
			total += s.Value
		}
	}
	return total
}

// ParseMetrics reads the Prometheus text exposition format with Prometheus' own parser and
// flattens it into samples as the text names them: counters, gauges and untyped values as
// they are, histograms as _bucket (with le), _sum and _count samples, summaries as their
// quantiles, _sum and _count.
func ParseMetrics(r io.Reader) (Metrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	names := make([]string, 0, len(families))
	for name := range families {
		names = append(names, name)
	}
	sort.Strings(names)
	var out Metrics
	for _, name := range names {
		mf := families[name]
		for _, m := range mf.GetMetric() {
			labels := func(extra ...string) map[string]string {
				l := make(map[string]string, len(m.GetLabel())+1)
				for _, lp := range m.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				for i := 0; i+1 < len(extra); i += 2 {
					l[extra[i]] = extra[i+1]
				}
				return l
			}
			add := func(name string, v float64, extra ...string) {
				out = append(out, Sample{Name: name, Labels: labels(extra...), Value: v})
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m.GetGauge().GetValue())
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					add(name+"_bucket", float64(b.GetCumulativeCount()), "le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
				}
				add(name+"_sum", h.GetSampleSum())
				add(name+"_count", float64(h.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				for _, q := range sm.GetQuantile() {
					add(name, q.GetValue(), "quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64))
				}
				add(name+"_sum", sm.GetSampleSum())
				add(name+"_count", float64(sm.GetSampleCount()))
			default:
				add(name, m.GetUntyped().GetValue())
			}
		}
	}
	return out, nil
}

// ProcStats is what /proc says about a process.
type ProcStats struct {
	// PeakRSS is VmHWM, the resident set's high-water mark, in bytes.
	PeakRSS int64
	// RSS is VmRSS now, in bytes.
	RSS int64
	// CPU is user plus system time.
	CPU time.Duration
}

// ReadProcStats reads /proc/PID/status and /proc/PID/stat.
func ReadProcStats(pid int) (ProcStats, error) {
	var ps ProcStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch key {
		case "VmHWM":
			ps.PeakRSS = kb * 1024
		case "VmRSS":
			ps.RSS = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after it.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return ps, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	ps.CPU = time.Duration(ut+st) * time.Second / clockTicks
	return ps, nil
}

// ChildrenCPU returns the CPU time (user+system) of each direct child process of this
// program, by command name (kube-apiserver, etcd, pcsim, manager), summed per name.
func ChildrenCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		ps, err := ReadProcStats(pid)
		if err != nil {
			continue
		}
		out[s[open+1:closing]] += ps.CPU
	}
	return out
}
