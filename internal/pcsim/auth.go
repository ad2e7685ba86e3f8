package pcsim

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// tokenInfo is what pcsim remembers about an access token it issued.
type tokenInfo struct {
	clientID string
	expires  time.Time
}

// tokenResponse is the Entra ID v2.0 client-credentials answer.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// oauthError is the Entra ID error body. Like Entra ID, every answer names itself: its trace
// and correlation IDs and time are fields and also end the description, so two refusals of
// the same request never read the same byte for byte.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Timestamp        string `json:"timestamp,omitempty"`
	TraceID          string `json:"trace_id,omitempty"`
	CorrelationID    string `json:"correlation_id,omitempty"`
}

// stamped is the refusal as Entra ID sends it at now: with fresh IDs and the time, appended
// to the description on lines of their own.
func (e oauthError) stamped(now time.Time) oauthError {
	e.Timestamp = now.UTC().Format("2006-01-02 15:04:05Z")
	e.TraceID, e.CorrelationID = uuid.NewString(), uuid.NewString()
	e.ErrorDescription += "\r\nTrace ID: " + e.TraceID + "\r\nCorrelation ID: " + e.CorrelationID + "\r\nTimestamp: " + e.Timestamp
	return e
}

func oauthFailure(status int, code, description string) response {
	return response{status: status, body: oauthError{Error: code, ErrorDescription: description}}
}

// tokenEndpoint serves POST /{tenant}/oauth2/v2.0/token. It gets latency but never faults:
// the faults model Partner Center, not Entra ID.
func (s *Server) tokenEndpoint() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.delay(r) {
			return
		}
		answer := s.issueToken(r)
		if refusal, ok := answer.body.(oauthError); ok {
			answer.body = refusal.stamped(s.now())
		}
		out := encode(answer)
		out.header.Set("Cache-Control", "no-store")
		s.send(w, opToken, out)
	})
}

func (s *Server) issueToken(r *http.Request) response {
	r.Body = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return oauthFailure(http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be a form.")
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		return oauthFailure(http.StatusBadRequest, "unsupported_grant_type",
			"AADSTS70003: The app requested an unsupported grant type '"+gt+"'.")
	}
	if r.PostForm.Get("scope") == "" {
		return oauthFailure(http.StatusBadRequest, "invalid_request",
			"AADSTS900144: The request body must contain the following parameter: 'scope'.")
	}
	clientID, secret := clientCredentials(r)
	if resp, ok := s.authenticateClient(r, clientID, secret); !ok {
		return resp
	}
	token := rand.Text() + rand.Text() // 256 random bits, opaque to the client
	s.tokens.put(token, tokenInfo{clientID: clientID, expires: s.now().Add(s.opts.TokenTTL)})
	secs := int(s.opts.TokenTTL / time.Second)
	return response{status: http.StatusOK, body: tokenResponse{
		TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: token,
	}}
}

// clientCredentials reads the client ID and secret from HTTP Basic auth (RFC 6749 2.3.1,
// where both are form-encoded first, as golang.org/x/oauth2 does) or from the form.
func clientCredentials(r *http.Request) (id, secret string) {
	if u, p, ok := r.BasicAuth(); ok {
		if du, err := url.QueryUnescape(u); err == nil {
			u = du
		}
		if dp, err := url.QueryUnescape(p); err == nil {
			p = dp
		}
		return u, p
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
}

// authenticateClient checks the client secret or the client assertion of a token request.
func (s *Server) authenticateClient(r *http.Request, clientID, secret string) (response, bool) {
	assertionType, assertion := r.PostForm.Get("client_assertion_type"), r.PostForm.Get("client_assertion")
	if assertionType == "" && assertion == "" {
		if !s.credentialsValid(clientID, secret) {
			return oauthFailure(http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided."), false
		}
		return response{}, true
	}
	switch {
	case secret != "":
		return oauthFailure(http.StatusBadRequest, "invalid_request",
			"AADSTS90015: Only one client authentication method may be used: client_secret or client_assertion."), false
	case assertionType != ClientAssertionType:
		return oauthFailure(http.StatusBadRequest, "invalid_request",
			"AADSTS900144: client_assertion_type must be '"+ClientAssertionType+"'."), false
	case assertion == "":
		return oauthFailure(http.StatusBadRequest, "invalid_request",
			"AADSTS900144: The request body must contain the following parameter: 'client_assertion'."), false
	case clientID == "":
		return oauthFailure(http.StatusBadRequest, "invalid_request",
			"AADSTS900144: The request body must contain the following parameter: 'client_id'."), false
	case s.opts.ClientID != "" && clientID != s.opts.ClientID:
		return oauthFailure(http.StatusBadRequest, "unauthorized_client",
			"AADSTS700016: Application with identifier '"+clientID+"' was not found in the directory."), false
	}
	return s.verifyAssertion(clientID, assertion, tokenURL(r))
}

// tokenURL is the URL the request was sent to: the audience of certificate assertions.
func tokenURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

func (s *Server) credentialsValid(id, secret string) bool {
	if id == "" || secret == "" {
		return false
	}
	if s.opts.ClientID == "" {
		return true
	}
	if s.opts.ClientSecret == "" {
		return false // the app has certificates or federated credentials only
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) == 1
	return idOK && secretOK
}

// authorize checks the bearer token of a /v1 request and records its client in c.
func (s *Server) authorize(r *http.Request, c *call) (response, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return unauthorized("The request has no bearer token."), false
	}
	info, ok := s.tokens.get(token)
	if !ok {
		return unauthorized("The bearer token is not valid."), false
	}
	if !s.now().Before(info.expires) {
		s.tokens.delete(token) // keeps the token store proportional to live tokens
		return unauthorized("The bearer token has expired."), false
	}
	c.clientID = info.clientID
	return response{}, true
}

func unauthorized(description string) response {
	resp := apiError(http.StatusUnauthorized, codeUnauthorized, "%s", description)
	resp.header = http.Header{"Www-Authenticate": {`Bearer realm="pcsim", error="invalid_token"`}}
	return resp
}
