package partnercenter

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCancellationBodyKeepsTheResourceAsRead(t *testing.T) {
	read := `{"id":"s1","offerId":"CFQ7TTC0LH18:0001","status":"active","quantity":3,
		"scheduledNextTermInstructions":{"quantity":2},"links":{"self":{"uri":"/customers/c/subscriptions/s1"}}}`
	var sub Subscription
	if err := json.Unmarshal([]byte(read), &sub); err != nil {
		t.Fatal(err)
	}
	body, err := sub.cancellationBody()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got["status"] != SubscriptionDeleted {
		t.Errorf("status = %v, want deleted", got["status"])
	}
	for _, k := range []string{"scheduledNextTermInstructions", "links", "offerId", "quantity"} {
		if _, ok := got[k]; !ok {
			t.Errorf("the PATCH body lost %q, which Partner Center sent: %s", k, body)
		}
	}
	if sub.Status != SubscriptionActive {
		t.Errorf("building the body changed the subscription read: status %q", sub.Status)
	}
}

func TestCancellableUntilFromTheSubscriptionsOwnDates(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	cases := []struct {
		name string
		sub  Subscription
		want time.Time
		ok   bool
	}{
		{"cancellationAllowedUntilDate wins", Subscription{CancellationAllowedUntilDate: "2026-12-08T10:00:00Z",
			RefundOptions: []RefundOption{{Type: RefundPartial, ExpiresAt: "2026-12-20T00:00:00Z"}}}, at("2026-12-08T10:00:00Z"), true},
		{"else the latest refund option", Subscription{RefundOptions: []RefundOption{
			{Type: RefundFull, ExpiresAt: "2026-12-02T00:00:00Z"}, {Type: RefundPartial, ExpiresAt: "2026-12-08T00:00:00Z"}}},
			at("2026-12-08T00:00:00Z"), true},
		{"a date without a zone is UTC", Subscription{CancellationAllowedUntilDate: "2026-12-08T10:00:00"}, at("2026-12-08T10:00:00Z"), true},
		{"neither: unknown", Subscription{}, time.Time{}, false},
	}
	for _, c := range cases {
		got, ok := c.sub.CancellableUntil()
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("%s: CancellableUntil() = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	s := Subscription{RefundOptions: []RefundOption{{Type: RefundFull, ExpiresAt: "2026-12-02T00:00:00Z"}, {Type: RefundPartial, ExpiresAt: "2026-12-08T00:00:00Z"}}}
	if got := s.RefundAt(at("2026-12-01T00:00:00Z")); got != RefundFull {
		t.Errorf("RefundAt before the full refund expires = %q, want Full", got)
	}
	if got := s.RefundAt(at("2026-12-03T00:00:00Z")); got != RefundPartial {
		t.Errorf("RefundAt after the full refund expired = %q, want Partial", got)
	}
	if got := s.RefundAt(at("2026-12-09T00:00:00Z")); got != "" {
		t.Errorf("RefundAt after every option expired = %q, want none", got)
	}
}
