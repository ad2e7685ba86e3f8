package pcsim

import (
	"context"
	"net/http"
)

// storedResponse is a complete answer kept for MS-RequestId replay.
type storedResponse struct {
	status int
	header http.Header
	body   []byte
}

// replayEntry is one (customer, path, MS-RequestId). done closes once the first request
// has finished; resp is then its stored answer, or nil if it had nothing worth keeping.
type replayEntry struct {
	done chan struct{}
	resp *storedResponse
}

// replayStore makes a repeated POST or PATCH with the same MS-RequestId return the first answer
// without side effects, as Partner Center promises for idempotent requests. A repeat that
// arrives while the first is still running waits for it instead of running twice.
type replayStore struct {
	entries *shardedMap[*replayEntry]
}

func newReplayStore() *replayStore {
	return &replayStore{entries: newShardedMap[*replayEntry]()}
}

func replayKey(customerID, path, requestID string) string {
	return customerID + "\x00" + path + "\x00" + requestID
}

// begin returns the stored answer for key, or claims key for this request and returns a
// finish function that must be called with the answer to keep (nil keeps nothing and
// lets the next repeat run for real).
func (rs *replayStore) begin(ctx context.Context, key string) (*storedResponse, func(*storedResponse), error) {
	for {
		mine := &replayEntry{done: make(chan struct{})}
		e := rs.entries.getOrCreate(key, func() *replayEntry { return mine })
		if e == mine {
			return nil, func(resp *storedResponse) { rs.finish(key, e, resp) }, nil
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if e.resp != nil {
			return e.resp, nil, nil
		}
		// The first request kept nothing (it failed without side effects): run for real.
	}
}

func (rs *replayStore) finish(key string, e *replayEntry, resp *storedResponse) {
	e.resp = resp
	if resp == nil {
		rs.entries.delete(key)
	}
	close(e.done)
}
