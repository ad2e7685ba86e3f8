package pcsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Faults are the injected failures of /v1 API requests. Rates are probabilities in 0..1.
type Faults struct {
	// FailRate answers 500 with code 800003 before the request does anything.
	FailRate float64
	// ThrottleRate answers 429 with Retry-After and Partner Center's throttling body.
	ThrottleRate float64
	// DropAfterCommitRate makes a POST or PUT commit its change and then close the
	// connection without an answer, the case that makes a checkout's outcome unknown.
	DropAfterCommitRate float64
	// RetryAfter is sent with 429s (default 1s; whole seconds on the wire, at least 1).
	RetryAfter time.Duration
}

// Fault kinds as counted in Stats.Faults.
const (
	faultFail     = "fail"
	faultThrottle = "throttle"
	faultDrop     = "dropAfterCommit"
)

const defaultRetryAfter = time.Second

// faultsJSON is the wire form of Faults on /_pcsim/faults: retryAfter is a Go duration
// string ("2s") or a number of seconds.
type faultsJSON struct {
	FailRate            float64         `json:"failRate"`
	ThrottleRate        float64         `json:"throttleRate"`
	DropAfterCommitRate float64         `json:"dropAfterCommitRate"`
	RetryAfter          json.RawMessage `json:"retryAfter,omitempty"`
}

// MarshalJSON writes retryAfter as a duration string.
func (f Faults) MarshalJSON() ([]byte, error) {
	ra, err := json.Marshal(f.RetryAfter.String())
	if err != nil {
		return nil, err
	}
	return json.Marshal(faultsJSON{f.FailRate, f.ThrottleRate, f.DropAfterCommitRate, ra})
}

// UnmarshalJSON accepts retryAfter as "2s" or 2 (seconds).
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Faults{FailRate: w.FailRate, ThrottleRate: w.ThrottleRate, DropAfterCommitRate: w.DropAfterCommitRate}
	if len(w.RetryAfter) == 0 || string(w.RetryAfter) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(w.RetryAfter, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("retryAfter: %w", err)
		}
		f.RetryAfter = d
		return nil
	}
	var secs float64
	if err := json.Unmarshal(w.RetryAfter, &secs); err != nil {
		return fmt.Errorf("retryAfter must be a duration string or a number of seconds")
	}
	f.RetryAfter = time.Duration(secs * float64(time.Second))
	return nil
}

// Validate checks that rates are probabilities and RetryAfter is not negative.
func (f Faults) Validate() error {
	for name, r := range map[string]float64{
		"failRate": f.FailRate, "throttleRate": f.ThrottleRate, "dropAfterCommitRate": f.DropAfterCommitRate,
	} {
		if r < 0 || r > 1 || r != r {
			return fmt.Errorf("%s must be between 0 and 1, got %v", name, r)
		}
	}
	if f.RetryAfter < 0 {
		return fmt.Errorf("retryAfter must not be negative, got %s", f.RetryAfter)
	}
	return nil
}

func (f Faults) withDefaults() Faults {
	if f.RetryAfter == 0 {
		f.RetryAfter = defaultRetryAfter
	}
	return f
}

func (f Faults) none() bool {
	return f.FailRate == 0 && f.ThrottleRate == 0 && f.DropAfterCommitRate == 0
}

// faultDecision is what happens to one request.
type faultDecision struct {
	fail, throttle, drop bool
	retryAfter           time.Duration
}

// faultInjector decides faults with one seeded generator under a mutex, so the same
// sequence of requests meets the same faults for the same seed.
type faultInjector struct {
	mu  sync.Mutex
	cfg Faults
	rng *rand.Rand
}

func newFaultInjector(f Faults, seed int64) *faultInjector {
	return &faultInjector{cfg: f.withDefaults(), rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
}

func (fi *faultInjector) set(f Faults) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.cfg = f.withDefaults()
}

func (fi *faultInjector) get() Faults {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.cfg
}

// decide draws the faults of one request. Every request with faults configured draws
// exactly three numbers, so changing one rate does not shift the others' sequence.
// Precedence: fail, then throttle, then drop (mutating requests only).
func (fi *faultInjector) decide(mutating bool) faultDecision {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	cfg := fi.cfg
	if cfg.none() {
		return faultDecision{}
	}
	fail := fi.rng.Float64() < cfg.FailRate
	throttle := fi.rng.Float64() < cfg.ThrottleRate
	drop := fi.rng.Float64() < cfg.DropAfterCommitRate
	return faultDecision{
		fail:       fail,
		throttle:   !fail && throttle,
		drop:       !fail && !throttle && drop && mutating,
		retryAfter: cfg.RetryAfter,
	}
}
