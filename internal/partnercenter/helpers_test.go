package partnercenter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test credentials. The secret is long and odd so that a leak cannot hide in other text.
const (
	testTenant   = "11111111-2222-3333-4444-555555555555"
	testClientID = "app-1"
	testSecret   = "s3cr3t-Th4t-Must-N0t-Leak~"
)

var testCreds = Credentials{TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret}

// fakeClock is a clock whose Sleep returns at once, moving time forward and remembering how
// long it was asked to wait.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// recordedRequest is what the test server saw of one API request.
type recordedRequest struct {
	Method string
	URI    string // as sent, still escaped
	Header http.Header
	Body   string
}

// tokenRequest is what the test server saw of one token request.
type tokenRequest struct {
	Path string
	Form url.Values
}

// apiHandler answers the n-th (0-based) API request.
type apiHandler func(w http.ResponseWriter, r *http.Request, n int)

// pcServer is a scripted Partner Center and token endpoint on one httptest server.
type pcServer struct {
	srv *httptest.Server

	mu        sync.Mutex
	api       apiHandler
	token     apiHandler // nil: issue "tok-<n+1>" for expiresIn seconds
	expiresIn int
	requests  []recordedRequest
	tokens    []tokenRequest
}

func newPCServer(t *testing.T, api apiHandler) *pcServer {
	t.Helper()
	s := &pcServer{api: api, expiresIn: 3600}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// net/http resends a GET by itself, once, when a kept-alive connection closes before
	// answering. That is harmless (same MS-RequestId) but would blur what these tests count,
	// so every request gets its own connection.
	s.srv.Config.SetKeepAlivesEnabled(false)
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *pcServer) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		s.serveToken(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, recordedRequest{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	api := s.api
	s.mu.Unlock()
	if api == nil {
		reply(w, http.StatusOK, `{}`)
		return
	}
	api(w, r, n)
}

func (s *pcServer) serveToken(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	n := len(s.tokens)
	s.tokens = append(s.tokens, tokenRequest{Path: r.URL.Path, Form: r.PostForm})
	token, expiresIn := s.token, s.expiresIn
	s.mu.Unlock()
	if token != nil {
		token(w, r, n)
		return
	}
	reply(w, http.StatusOK, `{"token_type":"Bearer","access_token":"tok-`+strconv.Itoa(n+1)+
		`","expires_in":`+strconv.Itoa(expiresIn)+`}`)
}

func (s *pcServer) Requests() []recordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedRequest(nil), s.requests...)
}

func (s *pcServer) TokenRequests() []tokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tokenRequest(nil), s.tokens...)
}

func (s *pcServer) SetAPI(h apiHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.api = h
}

func (s *pcServer) SetExpiresIn(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresIn = seconds
}

func (s *pcServer) SetTokenHandler(h apiHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = h
}

// newTestFactory returns a factory pointed at s, with a fake clock, fast backoff and no
// rate limit, changed by tweak.
func newTestFactory(s *pcServer, tweak func(*Config)) (*HTTPFactory, *fakeClock) {
	cfg := Config{
		Endpoint:       s.srv.URL,
		AuthorityHost:  s.srv.URL,
		HTTPClient:     s.srv.Client(),
		RetryBaseDelay: 10 * time.Millisecond,
		MaxRetryWait:   5 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	f := NewFactory(cfg)
	clk := newFakeClock()
	f.clock = clk
	return f, clk
}

func mustClient(t *testing.T, f *HTTPFactory, creds Credentials) Client {
	t.Helper()
	c, err := f.ClientFor(creds)
	if err != nil {
		t.Fatalf("ClientFor: %v", err)
	}
	return c
}

// reply writes a JSON (or any) body with a status and optional header pairs.
func reply(w http.ResponseWriter, status int, body string, headerPairs ...string) {
	for i := 0; i+1 < len(headerPairs); i += 2 {
		w.Header().Set(headerPairs[i], headerPairs[i+1])
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// cutShort promises a body and closes the connection halfway through it.
func cutShort(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "1000")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"id":"cart-1",`)
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// script answers the API requests in order with the given handlers; the last one repeats.
func script(steps ...func(w http.ResponseWriter)) apiHandler {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		steps[min(n, len(steps)-1)](w)
	}
}

func status(code int, body string, headerPairs ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { reply(w, code, body, headerPairs...) }
}

// recordingObserver remembers every ObserveRequest call.
type recordingObserver struct {
	mu       sync.Mutex
	observed []observation
}

type observation struct {
	Operation  string
	StatusCode int
}

func (o *recordingObserver) ObserveRequest(operation string, statusCode int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.observed = append(o.observed, observation{operation, statusCode})
}

func (o *recordingObserver) Observed() []observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observation(nil), o.observed...)
}
