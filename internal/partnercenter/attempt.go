package partnercenter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

const (
	// maxResponseBytes bounds what is read from one answer: 4 MiB, far above any cart, checkout
	// result or page of orders Partner Center sends, and small enough that a broken proxy
	// cannot make the manager hold much memory per worker. A larger 2xx answer is a
	// *DecodeError (it is never decoded truncated); a larger error answer is described from
	// its status and the start of its body.
	maxResponseBytes = 4 << 20
	// maxOrdersListBytes bounds the answer of ListOrders, the one call whose answer grows with
	// the customer: all of the customer's orders in one collection, about 1 KiB each. At 4 MiB
	// a customer with 4 000 orders could not be read, and the identical-purchase guard could
	// not run for them; 64 MiB holds some 60 000 orders.
	maxOrdersListBytes = 64 << 20
	// maxErrorSnippet is how much of a non-JSON error page goes into APIError.Description.
	maxErrorSnippet = 200
	// maxDecodeSnippet is how much of an undecodable 2xx body goes into DecodeError.BodyPrefix.
	maxDecodeSnippet = 100
	// maxDecodeCause bounds DecodeError.Cause.
	maxDecodeCause = 200
)

// attempt sends one HTTP request of r and decodes a 2xx answer into out. It waits for the
// tenant gate first, and pauses the whole tenant when Partner Center answers 429.
func (c *httpClient) attempt(ctx context.Context, r request, body []byte, cv string, out any) error {
	if err := c.gate.wait(ctx, r.op, r.requestID); err != nil {
		return err
	}
	token, err := c.tokens.accessToken(ctx)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout(r))
	defer cancel()
	correlationID := uuid.NewString()
	req, err := c.newHTTPRequest(ctx, r, body, token, correlationID, cv)
	if err != nil {
		return err
	}

	start := time.Now()
	limit := maxResponseBytes
	switch {
	case r.limit > 0:
		limit = r.limit
	case r.op == OpListOrders:
		limit = maxOrdersListBytes
	}
	status, header, respBody, tooLarge, err := c.send(req, limit)
	c.cfg.Observer.ObserveRequest(r.op, status, time.Since(start))
	if err != nil {
		return &TransportError{Operation: r.op, RequestID: r.requestID, Err: err}
	}

	if status < 200 || status > 299 {
		apiErr := c.apiError(r, correlationID, status, header, respBody)
		c.react(apiErr, token)
		return apiErr
	}
	if tooLarge {
		return &DecodeError{
			Operation: r.op, StatusCode: status, RequestID: r.requestID, CorrelationID: correlationID,
			Cause:      fmt.Sprintf("answer is larger than %d bytes", limit),
			BodyPrefix: printableSnippet(respBody, maxDecodeSnippet),
		}
	}
	if r.received != nil {
		*r.received = len(respBody)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(respBody, out); err != nil {
		// Partner Center said yes but the answer is unusable. That is not "no answer": the
		// change may have been made, and repeating the call is the caller's decision.
		return &DecodeError{
			Operation: r.op, StatusCode: status, RequestID: r.requestID, CorrelationID: correlationID,
			Cause:      printableSnippet([]byte(err.Error()), maxDecodeCause),
			BodyPrefix: printableSnippet(respBody, maxDecodeSnippet),
			Err:        err,
		}
	}
	return nil
}

func (c *httpClient) attemptTimeout(r request) time.Duration {
	if r.slow {
		return c.cfg.CheckoutTimeout
	}
	return c.cfg.Timeout
}

func (c *httpClient) newHTTPRequest(ctx context.Context, r request, body []byte, token, correlationID, cv string) (*http.Request, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.cfg.Endpoint+r.path, reader)
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", r.op, err)
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+token)
	h.Set("Accept", "application/json")
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	h.Set("MS-RequestId", r.requestID)
	h.Set("MS-CorrelationId", correlationID)
	h.Set("MS-CV", cv)
	h.Set("X-Locale", "en-US")
	for _, kv := range r.headers {
		if h.Get(kv.Key) == "" {
			h.Set(kv.Key, kv.Value)
		}
	}
	return req, nil
}

// send does the HTTP exchange and reads the answer, up to limit bytes. Any failure before the
// last byte arrived is returned as err, with status 0: the caller cannot know what the server
// did. An answer longer than limit is not read further: send returns its status and first
// limit bytes, with tooLarge set. Redirects are not
// followed (see Config.withDefaults), so a 3xx comes back as it is.
func (c *httpClient) send(req *http.Request, limit int) (status int, header http.Header, body []byte, tooLarge bool, err error) {
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, nil, false, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err = io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return 0, nil, nil, false, fmt.Errorf("read HTTP %d answer: %w", resp.StatusCode, err)
	}
	if len(body) > limit {
		return resp.StatusCode, resp.Header, body[:limit], true, nil
	}
	return resp.StatusCode, resp.Header, body, false, nil
}

// react lets the rest of the client learn from an error answer: a 429 with Retry-After
// pauses every worker of the partner tenant, and a 401 drops the refused token.
func (c *httpClient) react(apiErr *APIError, token string) {
	switch apiErr.StatusCode {
	case http.StatusTooManyRequests:
		c.gate.pauseFor(apiErr.RetryAfter)
	case http.StatusUnauthorized:
		c.tokens.invalidate(token)
	}
}

func (c *httpClient) apiError(r request, correlationID string, status int, header http.Header, body []byte) *APIError {
	code, description := describeFailure(status, body)
	if isRedirect(status) {
		description = http.StatusText(status) + ": " + redirectRefused
	}
	return &APIError{
		Operation:     r.op,
		StatusCode:    status,
		Code:          code,
		Description:   description,
		RequestID:     r.requestID,
		CorrelationID: correlationID,
		RetryAfter:    parseRetryAfter(header.Get("Retry-After"), c.clock.Now()),
	}
}

// describeFailure reads Partner Center's error code and description from an error answer:
// the ApiFault body ({code, description}), the 429 body ({statusCode, message}), or, for
// anything else (a gateway's HTML page), the reason phrase and the start of the body.
func describeFailure(status int, body []byte) (code, description string) {
	// Only the fields read here are declared, so that an odd "data" or "source" cannot
	// make the whole body unreadable.
	var fault struct {
		Code        FlexibleString `json:"code"`        // ErrorBody
		Description string         `json:"description"` // ErrorBody
		Message     string         `json:"message"`     // ThrottleBody
	}
	if err := json.Unmarshal(body, &fault); err == nil {
		if fault.Code != "" || fault.Description != "" {
			return string(fault.Code), fault.Description
		}
		if fault.Message != "" {
			return "", fault.Message
		}
	}
	description = http.StatusText(status)
	if snippet := printableSnippet(body, maxErrorSnippet); snippet != "" {
		description += ": " + snippet
	}
	return "", description
}

// printableSnippet returns at most n bytes of b, valid UTF-8, with control characters and
// runs of white space folded into single spaces, so that it is safe in logs and status.
func printableSnippet(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// correlationVector is an MS-CV base for one logical call; attempt i sends "<base>.<i>".
type correlationVector string

func newCorrelationVector() correlationVector {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return correlationVector(base64.RawStdEncoding.EncodeToString(b[:]))
}

func (cv correlationVector) attempt(i int) string {
	return string(cv) + "." + strconv.Itoa(i)
}
