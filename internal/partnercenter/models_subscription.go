package partnercenter

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Subscription statuses (subscription-resources.md). A cancelled subscription is "deleted".
const (
	SubscriptionActive    = "active"
	SubscriptionPending   = "pending"
	SubscriptionSuspended = "suspended"
	SubscriptionExpired   = "expired"
	SubscriptionDisabled  = "disabled"
	SubscriptionDeleted   = "deleted"
)

// Refund option types Partner Center offers on a New-Commerce subscription.
const (
	RefundFull    = "Full"
	RefundPartial = "Partial"
)

// Subscription is Microsoft.Partner.Services.Subscriptions.Subscription, with the fields the
// operator reads. Partner Center's cancellation is a PATCH of the whole resource with status
// "deleted", so a Subscription keeps the resource exactly as it was read: CancelSubscription
// sends that back with only the status changed, and fields this type does not name survive.
type Subscription struct {
	ID                   string `json:"id"`
	OfferID              string `json:"offerId,omitempty"`
	OfferName            string `json:"offerName,omitempty"`
	FriendlyName         string `json:"friendlyName,omitempty"`
	Quantity             int    `json:"quantity,omitempty"`
	UnitType             string `json:"unitType,omitempty"`
	ParentSubscriptionID string `json:"parentSubscriptionId,omitempty"`
	OrderID              string `json:"orderId,omitempty"`
	Status               string `json:"status,omitempty"`
	CreationDate         string `json:"creationDate,omitempty"`
	EffectiveStartDate   string `json:"effectiveStartDate,omitempty"`
	CommitmentEndDate    string `json:"commitmentEndDate,omitempty"`
	BillingCycle         string `json:"billingCycle,omitempty"`
	TermDuration         string `json:"termDuration,omitempty"`
	AutoRenewEnabled     bool   `json:"autoRenewEnabled,omitempty"`
	// CancellationAllowedUntilDate is the last moment Partner Center allows cancelling.
	CancellationAllowedUntilDate string `json:"cancellationAllowedUntilDate,omitempty"`
	// RefundOptions are the refunds a cancellation gets now, each until its expiry.
	RefundOptions []RefundOption `json:"refundOptions,omitempty"`
	// Actions are what the subscription allows now, e.g. "edit", "cancel".
	Actions []string `json:"actions,omitempty"`

	// raw is the resource as read; nil for a Subscription built in code.
	raw json.RawMessage
}

// RefundOption is Microsoft.Partner.Services.Subscriptions.RefundOption.
type RefundOption struct {
	Type      string `json:"type"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// UnmarshalJSON decodes a Subscription and keeps the resource as read.
func (s *Subscription) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	type plain Subscription
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Subscription(p)
	s.raw = slices.Clone(b)
	return nil
}

// cancellationBody is the subscription as read with status "deleted": the body of the
// cancellation PATCH.
func (s *Subscription) cancellationBody() (json.RawMessage, error) {
	if len(s.raw) == 0 {
		c := *s
		c.Status = SubscriptionDeleted
		type plain Subscription
		return json.Marshal(plain(c))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(s.raw, &fields); err != nil {
		return nil, fmt.Errorf("subscription %s as read: %w", s.ID, err)
	}
	fields["status"] = json.RawMessage(`"` + SubscriptionDeleted + `"`)
	return json.Marshal(fields)
}

// IsCancelled reports whether Partner Center shows the subscription cancelled.
func (s *Subscription) IsCancelled() bool {
	return strings.EqualFold(s.Status, SubscriptionDeleted)
}

// CancellableUntil is the end of the subscription's cancellation window, from its own dates:
// cancellationAllowedUntilDate, else the latest expiry of its refund options. ok is false
// when the subscription names neither: then only Partner Center's answer can tell.
func (s *Subscription) CancellableUntil() (until time.Time, ok bool) {
	if t, err := parseTime(s.CancellationAllowedUntilDate); err == nil {
		return t, true
	}
	for _, r := range s.RefundOptions {
		if t, err := parseTime(r.ExpiresAt); err == nil && t.After(until) {
			until, ok = t, true
		}
	}
	return until, ok
}

// RefundAt is the refund option in force at now (the one whose expiry is the nearest after
// now), or "" if none is.
func (s *Subscription) RefundAt(now time.Time) string {
	best, bestAt := "", time.Time{}
	for _, r := range s.RefundOptions {
		t, err := parseTime(r.ExpiresAt)
		if err != nil || !t.After(now) {
			continue
		}
		if best == "" || t.Before(bestAt) {
			best, bestAt = r.Type, t
		}
	}
	return best
}

// parseTime reads Partner Center's date-times: RFC 3339, with or without a zone (UTC then).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("no time")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read time %q", s)
}

// SubscriptionCollection is a ResourceCollection of subscriptions.
type SubscriptionCollection struct {
	TotalCount int            `json:"totalCount"`
	Items      []Subscription `json:"items"`
	Links      *ResourceLinks `json:"links,omitempty"`
}
