package pcsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	pc "github.com/partnercart/partnercart-operator/internal/partnercenter"
)

// Partner Center error codes pcsim answers with. The first two are not documented for
// these cases; pcsim picked them (docs/pcsim.md lists them).
const (
	codeUnauthorized      = 900300 // 401: missing, unknown or expired bearer token (pcsim's choice)
	codeUnknownCustomer   = 600002 // 404: customer unknown to this partner (pcsim's choice)
	codeOrderNotFound     = 800007 // 404: order ID unknown for this customer (pcsim's choice)
	codeInvalidInput      = 800002 // 400: malformed body or missing lineItems
	codeUnexpectedError   = 800003 // 500: injected failure
	codeCartNotFound      = 800008 // 404: cart unknown, of another customer, or expired
	codeCartLineErrors    = 800009 // 400: checkout of a cart with line errors
	codeOrderError        = 800010 // checkoutOrderError default
	codeCartBusy          = 800064 // 409: another checkout of the cart is in progress
	codeCartAlreadyBought = 800065 // 400: PUT of an ordered cart
	codeRouteNotFound     = 404    // no such endpoint
)

// maxBodyBytes bounds request bodies; 50 line items fit in a few kilobytes.
const maxBodyBytes = 1 << 20

// call is one authenticated /v1 request as handlers see it.
type call struct {
	r          *http.Request
	customerID string
	clientID   string
	now        time.Time
}

// response is a handler's answer before encoding; handlers return it instead of writing,
// so the wrapper can store it for replay or drop it after the commit.
type response struct {
	status int
	body   any // encoded with json.Marshal, or a rawJSON sent as is
	header http.Header
	// abort closes the connection after the answer was stored for replay, without
	// sending it (CheckoutFault.LoseCheckoutAnswer).
	abort bool
}

type apiHandler func(c *call) response

// apiGuard runs before MS-RequestId replay and may answer instead of both replay and
// handler (checkout faults that model Partner Center not honouring a repeat).
type apiGuard func(c *call) (response, bool)

// errorBody is pc.ErrorBody with a numeric code, as Partner Center's samples show;
// pc.ErrorBody decodes it (its Code accepts numbers and strings).
type errorBody struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
	Source      string `json:"source,omitempty"`
}

func apiError(status, code int, format string, args ...any) response {
	return response{status: status, body: errorBody{Code: code, Description: fmt.Sprintf(format, args...), Source: "pcsim"}}
}

// api wraps a /v1 handler with what every Partner Center call goes through, in order:
// tracing headers, latency, faults, bearer auth, the customer check, MS-RequestId replay,
// and the drop-after-commit fault.
func (s *Server) api(op string, h apiHandler) http.Handler {
	return s.guardedAPI(op, nil, h)
}

// guardedAPI is api with a guard that runs after the customer check and before replay.
func (s *Server) guardedAPI(op string, guard apiGuard, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestID, clientSentID := echoTracingHeaders(w, r)
		if !s.delay(r) {
			return // the client went away; nobody is listening for an answer
		}
		fd := s.faults.decide(r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch)
		if resp, injected := s.injectedFault(fd); injected {
			s.send(w, op, encode(resp))
			return
		}
		c := &call{r: r, customerID: r.PathValue("customerId")}
		if resp, ok := s.authorize(r, c); !ok {
			s.send(w, op, encode(resp))
			return
		}
		if resp, limited := s.rateLimited(c.clientID); limited {
			s.send(w, op, encode(resp))
			return
		}
		if !s.customerKnown(c.customerID) {
			s.send(w, op, encode(apiError(http.StatusNotFound, codeUnknownCustomer,
				"Customer %s was not found for this partner.", c.customerID)))
			return
		}
		out, abort, err := s.execute(c, guard, h, requestID, clientSentID)
		if err != nil {
			return // the client went away while waiting for a replay
		}
		if fd.drop || abort {
			if !abort { // a lost checkout answer counted its own fault kind
				s.stats.fault(faultDrop)
			}
			s.stats.request(op, 0)
			abortConnection(w)
			return
		}
		s.send(w, op, out)
	})
}

// execute runs the guard and then the handler, or for a POST or PATCH with a client-chosen
// MS-RequestId returns the stored answer of the first request with that ID. Only 2xx
// answers are kept: failures have no side effects, so running a repeat for real is both
// safe and more useful (a 409 replayed forever would block the caller's recovery). abort
// says the answer must not be sent (it is stored all the same).
func (s *Server) execute(c *call, guard apiGuard, h apiHandler, requestID string, clientSentID bool) (out *storedResponse, abort bool, err error) {
	if guard != nil {
		c.now = s.now()
		if resp, ok := guard(c); ok {
			return encode(resp), resp.abort, nil
		}
	}
	if (c.r.Method != http.MethodPost && c.r.Method != http.MethodPatch) || !clientSentID {
		c.now = s.now()
		resp := h(c)
		return encode(resp), resp.abort, nil
	}
	stored, finish, err := s.replay.begin(c.r.Context(), replayKey(c.customerID, c.r.URL.Path, requestID))
	if err != nil {
		return nil, false, err
	}
	if stored != nil {
		s.stats.replayed()
		return stored, false, nil
	}
	var kept *storedResponse
	defer func() { finish(kept) }() // also on panic, so waiting repeats never hang
	c.now = s.now()
	resp := h(c)
	out = encode(resp)
	if out.status >= 200 && out.status < 300 {
		kept = out
	}
	return out, resp.abort, nil
}

// injectedFault turns a fail or throttle decision into its answer.
func (s *Server) injectedFault(fd faultDecision) (response, bool) {
	switch {
	case fd.fail:
		s.stats.fault(faultFail)
		return apiError(http.StatusInternalServerError, codeUnexpectedError,
			"An unexpected error occurred while processing the request (injected by pcsim)."), true
	case fd.throttle:
		s.stats.fault(faultThrottle)
		secs := max(1, int(math.Ceil(fd.retryAfter.Seconds())))
		retryAfter := strconv.Itoa(secs)
		if fd.retryAfterDate {
			retryAfter = retryAfterDate(s.now(), fd.retryAfter)
		}
		return response{
			status: http.StatusTooManyRequests,
			header: http.Header{"Retry-After": {retryAfter}},
			body: pc.ThrottleBody{StatusCode: http.StatusTooManyRequests,
				Message: fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", secs)},
		}, true
	}
	return response{}, false
}

// retryAfterDate is Retry-After as an HTTP date: now plus d, rounded up to the second so
// that a client never waits less than d, and at least a second ahead.
func retryAfterDate(now time.Time, d time.Duration) string {
	t := now.Add(max(d, time.Second))
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return t.UTC().Format(http.TimeFormat)
}

// echoTracingHeaders echoes MS-RequestId and MS-CorrelationId, generating them when the
// client sent none, as Partner Center does. It reports whether the client chose the
// request ID, since only a client-chosen ID can identify a retry.
func echoTracingHeaders(w http.ResponseWriter, r *http.Request) (requestID string, clientSent bool) {
	requestID = r.Header.Get("MS-RequestId")
	clientSent = requestID != ""
	if !clientSent {
		requestID = uuid.NewString()
	}
	correlationID := r.Header.Get("MS-CorrelationId")
	if correlationID == "" {
		correlationID = uuid.NewString()
	}
	w.Header().Set("MS-RequestId", requestID)
	w.Header().Set("MS-CorrelationId", correlationID)
	return requestID, clientSent
}

// delay sleeps for the configured latency and reports false if the client gave up first.
func (s *Server) delay(r *http.Request) bool {
	if s.opts.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.opts.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// encode renders a response once, so the same bytes can be sent, stored and replayed.
func encode(resp response) *storedResponse {
	h := http.Header{}
	for k, v := range resp.header {
		h[k] = v
	}
	var body []byte
	if raw, ok := resp.body.(rawJSON); ok {
		body = raw
		h.Set("Content-Type", "application/json; charset=utf-8")
	} else if resp.body != nil {
		var err error
		if body, err = json.Marshal(resp.body); err != nil {
			// Every body is one of this package's types; failing here is a programming error.
			panic(fmt.Sprintf("pcsim: encode %T: %v", resp.body, err))
		}
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	return &storedResponse{status: resp.status, header: h, body: body}
}

func (s *Server) send(w http.ResponseWriter, op string, out *storedResponse) {
	writeStored(w, out)
	s.stats.request(op, out.status)
}

func writeStored(w http.ResponseWriter, out *storedResponse) {
	for k, v := range out.header {
		w.Header()[k] = v
	}
	w.WriteHeader(out.status)
	_, _ = w.Write(out.body) // a client that hung up cannot be told
}

// abortConnection closes the client's connection without an answer. net/http's own way to
// abort (panic with http.ErrAbortHandler) covers writers that cannot be hijacked (HTTP/2).
func abortConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// decodeBody decodes a JSON request body into v; an empty body is an error.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return fmt.Errorf("body is larger than %d bytes", maxBodyBytes)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return errors.New("body is empty")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	echoTracingHeaders(w, r)
	s.send(w, opUnknown, encode(apiError(http.StatusNotFound, codeRouteNotFound,
		"No endpoint %s %s in pcsim.", r.Method, r.URL.Path)))
}
