package pcsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Faults are the injected failures of /v1 API requests: seeded random ones (rates are
// probabilities in 0..1) and deterministic checkout faults chosen by the carts' content.
type Faults struct {
	// FailRate answers 500 with code 800003 before the request does anything.
	FailRate float64
	// ThrottleRate answers 429 with Retry-After and Partner Center's throttling body.
	ThrottleRate float64
	// DropAfterCommitRate makes a POST, PUT or PATCH commit its change and then close the
	// connection without an answer, the case that makes a checkout's outcome unknown.
	DropAfterCommitRate float64
	// RetryAfter is sent with 429s (default 1s; whole seconds on the wire, at least 1).
	RetryAfter time.Duration
	// RetryAfterDate sends Retry-After as an HTTP date (RFC 1123, pcsim's clock plus
	// RetryAfter, rounded up to the second) instead of a number of seconds.
	RetryAfterDate bool
	// CheckoutFaults are deterministic checkout faults keyed by catalog item ID: a cart is
	// affected when any of its lines or add-ons has that catalogItemId. See CheckoutFault.
	CheckoutFaults map[string]CheckoutFault
	// SubscriptionFaults are deterministic faults of subscription PATCHes keyed by
	// subscription ID or offer ID (a subscription ID key wins). See SubscriptionFault.
	SubscriptionFaults map[string]SubscriptionFault
}

// Fault kinds as counted in Stats.Faults. The checkout kinds are the JSON names of their
// CheckoutFault fields.
const (
	faultFail              = "fail"
	faultThrottle          = "throttle"
	faultDrop              = "dropAfterCommit"
	faultRefuseFirst       = "refuseFirstCheckout"
	faultLoseAnswer        = "loseCheckoutAnswer"
	faultRefuseRepeat      = "refuseRepeatCheckout"
	faultEmptyAnswer       = "emptyCheckoutAnswer"
	faultUndecodableAnswer = "undecodableCheckoutAnswer"
	faultCheckoutNotFound  = "checkoutNotFound"
	faultSubNotReady       = "subscriptionNotReady"
	faultSubRefuse         = "subscriptionRefuse"
	faultSubLoseAnswer     = "subscriptionLoseAnswer"
)

const defaultRetryAfter = time.Second

// faultsJSON is the wire form of Faults on /_pcsim/faults: retryAfter is a Go duration
// string ("2s") or a number of seconds. The fields added after the first four are
// omitted when unset, so the JSON of rate-only faults is what it always was.
type faultsJSON struct {
	FailRate            float64                      `json:"failRate"`
	ThrottleRate        float64                      `json:"throttleRate"`
	DropAfterCommitRate float64                      `json:"dropAfterCommitRate"`
	RetryAfter          json.RawMessage              `json:"retryAfter,omitempty"`
	RetryAfterDate      bool                         `json:"retryAfterDate,omitempty"`
	CheckoutFaults      map[string]CheckoutFault     `json:"checkoutFaults,omitempty"`
	SubscriptionFaults  map[string]SubscriptionFault `json:"subscriptionFaults,omitempty"`
}

// MarshalJSON writes retryAfter as a duration string.
func (f Faults) MarshalJSON() ([]byte, error) {
	ra, err := json.Marshal(f.RetryAfter.String())
	if err != nil {
		return nil, err
	}
	return json.Marshal(faultsJSON{f.FailRate, f.ThrottleRate, f.DropAfterCommitRate, ra, f.RetryAfterDate, f.CheckoutFaults, f.SubscriptionFaults})
}

// UnmarshalJSON accepts retryAfter as "2s" or 2 (seconds). Unknown fields are an error,
// so a misspelt knob fails loudly instead of silently injecting nothing.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	*f = Faults{
		FailRate: w.FailRate, ThrottleRate: w.ThrottleRate, DropAfterCommitRate: w.DropAfterCommitRate,
		RetryAfterDate: w.RetryAfterDate, CheckoutFaults: w.CheckoutFaults, SubscriptionFaults: w.SubscriptionFaults,
	}
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

// Validate checks that rates are probabilities, RetryAfter is not negative and every
// checkout fault is well formed (see CheckoutFault.Validate). Whether the catalog sells
// the keyed items is checked by New, SetFaults and PUT /_pcsim/faults.
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
	if err := validateCheckoutFaults(f.CheckoutFaults); err != nil {
		return err
	}
	return validateSubscriptionFaults(f.SubscriptionFaults)
}

// withDefaults fills in RetryAfter and the checkout faults' defaults on a deep copy, so
// CurrentFaults shows what will be answered and the caller's values are never shared.
func (f Faults) withDefaults() Faults {
	if f.RetryAfter == 0 {
		f.RetryAfter = defaultRetryAfter
	}
	if f.CheckoutFaults != nil {
		cfs := make(map[string]CheckoutFault, len(f.CheckoutFaults))
		for id, cf := range f.CheckoutFaults {
			cfs[id] = cf.withDefaults()
		}
		f.CheckoutFaults = cfs
	}
	f.SubscriptionFaults = maps.Clone(f.SubscriptionFaults)
	return f
}

// clone deep-copies f, so a caller of CurrentFaults cannot change the faults in force.
func (f Faults) clone() Faults {
	if f.CheckoutFaults != nil {
		cfs := make(map[string]CheckoutFault, len(f.CheckoutFaults))
		for id, cf := range f.CheckoutFaults {
			cfs[id] = cf.clone()
		}
		f.CheckoutFaults = cfs
	}
	f.SubscriptionFaults = maps.Clone(f.SubscriptionFaults)
	return f
}

// none reports whether no random fault can happen, so no number needs to be drawn.
func (f Faults) none() bool {
	return f.FailRate == 0 && f.ThrottleRate == 0 && f.DropAfterCommitRate == 0
}

// faultDecision is what happens to one request.
type faultDecision struct {
	fail, throttle, drop bool
	retryAfter           time.Duration
	retryAfterDate       bool
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
	return fi.cfg.clone()
}

// checkoutFault returns the checkout fault in force for a cart with these lines, and
// false when none of its catalog items has one.
func (fi *faultInjector) checkoutFault(lines []pc.CartLineItem) (CheckoutFault, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return checkoutFaultFor(fi.cfg.CheckoutFaults, lines)
}

// subscriptionFault returns the fault in force for a subscription: the one keyed by its ID,
// else the one keyed by its offer ID.
func (fi *faultInjector) subscriptionFault(id, offerID string) (SubscriptionFault, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if f, ok := fi.cfg.SubscriptionFaults[id]; ok {
		return f, true
	}
	f, ok := fi.cfg.SubscriptionFaults[offerID]
	return f, ok
}

// setSubscriptionFault sets (or, for the zero fault, removes) one key's subscription fault.
func (fi *faultInjector) setSubscriptionFault(key string, f SubscriptionFault) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	m := maps.Clone(fi.cfg.SubscriptionFaults)
	if m == nil {
		m = map[string]SubscriptionFault{}
	}
	if f == (SubscriptionFault{}) {
		delete(m, key)
	} else {
		m[key] = f
	}
	fi.cfg.SubscriptionFaults = m
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
		fail:           fail,
		throttle:       !fail && throttle,
		drop:           !fail && !throttle && drop && mutating,
		retryAfter:     cfg.RetryAfter,
		retryAfterDate: cfg.RetryAfterDate,
	}
}
