package partnercenter

import (
	"context"
	"time"
)

// clock is the client's notion of time for waits and token expiry, so that tests can check
// "waited Retry-After" and "refreshed before expiry" without sleeping.
type clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx is done, in which case it returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
