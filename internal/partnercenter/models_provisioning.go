package partnercenter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ProvisioningContext is a line's provisioningContext. The docs type it as
// Dictionary<string, string>, but it is an open object driven by each SKU's
// provisioningVariables, so an answer carrying one value that is not a string (a number, a
// boolean, an object) must not make the whole cart or checkout result undecodable. Values are
// kept as they came: strings as string, numbers as json.Number (never a float), booleans as
// bool, and anything else as decoded by encoding/json with UseNumber; re-encoding writes them
// back unchanged. Keys keep their spelling; Partner Center matches them case-insensitively
// (the published requests send "SubscriptionId" and "subscriptionId"), and so does Get.
//
// A context whose values are all strings marshals exactly as the map[string]string it
// replaced, so hashes of canonical JSON built from it do not change.
type ProvisioningContext map[string]any

// ProvisioningContextOf returns a context holding the given string values, or nil for none.
func ProvisioningContextOf(m map[string]string) ProvisioningContext {
	if m == nil {
		return nil
	}
	out := make(ProvisioningContext, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// UnmarshalJSON decodes any JSON object, keeping numbers exact; null is no context.
func (p *ProvisioningContext) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		*p = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("provisioningContext must be a JSON object: %w", err)
	}
	*p = m
	return nil
}

// Lookup returns the value of key, compared case-insensitively (an exact match wins), as
// text: a string as is, a number as written, true/false, and anything else as compact JSON.
// The boolean reports whether the key is present at all.
func (p ProvisioningContext) Lookup(key string) (string, bool) {
	v, ok := p[key]
	if !ok {
		for k, kv := range p {
			if strings.EqualFold(k, key) {
				v, ok = kv, true
				break
			}
		}
	}
	if !ok {
		return "", false
	}
	return provisioningText(v), true
}

// Get is Lookup without the presence flag: "" when key is absent.
func (p ProvisioningContext) Get(key string) string {
	s, _ := p.Lookup(key)
	return s
}

// Strings returns every value as text (see Lookup), for places that only hold strings.
func (p ProvisioningContext) Strings() map[string]string {
	if p == nil {
		return nil
	}
	out := make(map[string]string, len(p))
	for k, v := range p {
		out[k] = provisioningText(v)
	}
	return out
}

func provisioningText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "true"
		}
		return "false"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Billing cycles in Partner Center's wire spelling (lower snake case, as the SDK's
// EnumJsonConverter writes BillingCycleType).
const (
	BillingCycleMonthly   = "monthly"
	BillingCycleAnnual    = "annual"
	BillingCycleBiennial  = "biennial"
	BillingCycleTriennial = "triennial"
	BillingCycleNone      = "none"
	BillingCycleOneTime   = "one_time"
	BillingCycleUnknown   = "unknown"
)

var billingCycleByKey = map[string]string{
	"monthly": BillingCycleMonthly, "annual": BillingCycleAnnual, "biennial": BillingCycleBiennial,
	"triennial": BillingCycleTriennial, "none": BillingCycleNone, "onetime": BillingCycleOneTime,
	"unknown": BillingCycleUnknown,
}

// NormalizeBillingCycle returns the wire spelling of a billing cycle written in any case,
// with or without underscores ("Monthly", "OneTime", "one_time" -> "monthly", "one_time").
// A value that is none of the known cycles is returned unchanged.
func NormalizeBillingCycle(s string) string {
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "")
	if known, ok := billingCycleByKey[key]; ok {
		return known
	}
	return s
}
