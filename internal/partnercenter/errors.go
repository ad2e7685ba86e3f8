package partnercenter

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Class is what a caller should do about an error. Every error the client returns is
// classified once, here, from its HTTP status and Partner Center code; nobody matches text.
type Class int

const (
	// ClassRetryable errors (network, 408, 5xx, transient 409s) are worth retrying with backoff.
	ClassRetryable Class = iota
	// ClassThrottled errors (429) ask the caller to wait RetryAfter before trying again.
	ClassThrottled
	// ClassNotFound errors (404) mean the resource does not exist (an expired cart, say).
	ClassNotFound
	// ClassUnauthorized errors (401, and token endpoint refusals, which the token source turns
	// into a 401) mean the credentials are wrong; retrying soon will not help. A 403 is
	// ClassTerminal: the credentials work but may not do this.
	ClassUnauthorized
	// ClassTerminal errors (other 4xx, and 3xx: redirects are never followed) will fail the
	// same way until the input changes.
	ClassTerminal
	// ClassUndecodable errors (*DecodeError) mean Partner Center answered success, so the
	// change may have taken effect; the answer cannot be read. The client never repeats such
	// a call: for a POST (CreateCart, Checkout) whether and how to find out what happened is
	// the caller's decision, e.g. by reading the cart and the customer's orders.
	ClassUndecodable
)

func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "Retryable"
	case ClassThrottled:
		return "Throttled"
	case ClassNotFound:
		return "NotFound"
	case ClassUnauthorized:
		return "Unauthorized"
	case ClassTerminal:
		return "Terminal"
	case ClassUndecodable:
		return "Undecodable"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Sentinels for errors.Is.
var (
	ErrThrottled    = errors.New("partner center: throttled")
	ErrUnauthorized = errors.New("partner center: unauthorized")
	// ErrUndecodable matches every *DecodeError.
	ErrUndecodable = errors.New("partner center: answered success with an undecodable body")
)

// Partner Center error codes with a meaning the operator acts on (error-codes.md).
const (
	CodeCartNotFound           = "800008" // 404: unable to retrieve cart ID (wrong or expired)
	CodeOrderInProgress        = "800060" // 409: an order is in progress; check again later
	CodeCartBeingProcessed     = "800064" // 409: the cart is being processed by another request
	CodeCartAlreadySubmitted   = "800065" // 400: the cart was already checked out
	CodeSubscriptionNotReady   = "800082" // 409: subscription not ready to update; try later
	CodeUnexpectedServiceError = "800003" // 500
	CodeInvalidTokenAudience   = "900420" // 401

	// Cancelling a subscription (error-codes.md).
	CodeCancellationWindowHours = "900213" // 400: passed the {0}-hour cancellation window
	CodeCancellationWindowDays  = "900117" // 400: passed the {0}-day cancellation window
	CodeSubscriptionPendingOp   = "900278" // 409: a pending operation; try again after 24 hours
	CodeSubscriptionNoUpdates   = "900279" // 400: update operations no longer allowed
	CodeSubscriptionTooManyOps  = "900311" // 400: updated too many times
)

// IsCancellationWindowPassed reports whether err is Partner Center's refusal to cancel a
// subscription whose cancellation window has closed.
func IsCancellationWindowPassed(err error) bool {
	switch ErrorCode(err) {
	case CodeCancellationWindowHours, CodeCancellationWindowDays:
		return true
	}
	return false
}

// APIError is an HTTP error answer from Partner Center or its token endpoint.
type APIError struct {
	// Operation is the client operation, e.g. "Checkout".
	Operation string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is Partner Center's error code (number or string on the wire), if any.
	Code string
	// Description is Partner Center's description, or the reason phrase for non-JSON bodies.
	Description string
	// RequestID and CorrelationID identify the call for Partner Center support.
	RequestID     string
	CorrelationID string
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d", e.Operation, e.StatusCode)
	if e.Code != "" {
		msg += " code " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.RequestID != "" {
		msg += " (MS-RequestId " + e.RequestID + ")"
	}
	return msg
}

// Is maps the error to the package sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrThrottled:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	}
	return false
}

// TransportError is a call that got no HTTP answer: connection refused or reset, a timeout,
// or a body cut short. For a POST it means the outcome is unknown: the server may have
// committed the change before the connection dropped.
type TransportError struct {
	Operation string
	RequestID string
	Err       error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("%s: no answer from Partner Center (MS-RequestId %s): %v", e.Operation, e.RequestID, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// DecodeError is a 2xx answer from Partner Center whose body could not be read into the
// model: not JSON, JSON of the wrong shape, a value the model refuses (an order error code
// that is not an integer, a price that is not a decimal), or a body larger than
// maxResponseBytes. Partner Center said yes, so the change may have taken effect; unlike a
// *TransportError it is never retried by the client. It carries no more of the body than
// BodyPrefix, and the token endpoint's answers never become a DecodeError.
type DecodeError struct {
	// Operation is the client operation, e.g. "Checkout".
	Operation string
	// StatusCode is the HTTP status of the answer (2xx).
	StatusCode int
	// RequestID and CorrelationID identify the call for Partner Center support.
	RequestID     string
	CorrelationID string
	// Cause says, briefly, why the body could not be read.
	Cause string
	// BodyPrefix is the start of the body (at most maxDecodeSnippet bytes), made printable.
	BodyPrefix string
	// Err is the decoder's error, if there was one, for errors.As (*json.SyntaxError, say).
	Err error
}

func (e *DecodeError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d answer could not be decoded, the change may have taken effect", e.Operation, e.StatusCode)
	if e.RequestID != "" {
		msg += " (MS-RequestId " + e.RequestID + ")"
	}
	if e.Cause != "" {
		msg += ": " + e.Cause
	}
	if e.BodyPrefix != "" {
		msg += "; body starts " + strconv.Quote(e.BodyPrefix)
	}
	return msg
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is matches ErrUndecodable.
func (e *DecodeError) Is(target error) bool { return target == ErrUndecodable }

// IsUndecodable reports whether err is (or wraps) a *DecodeError: Partner Center answered
// success, but the answer could not be read.
func IsUndecodable(err error) bool {
	var decodeErr *DecodeError
	return errors.As(err, &decodeErr)
}

// Classify says what to do about an error returned by a Client. A *DecodeError is
// ClassUndecodable. Errors that are neither *APIError nor *DecodeError (a *TransportError,
// a cancelled context, say) are retryable.
func Classify(err error) Class {
	if IsUndecodable(err) {
		return ClassUndecodable
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return ClassRetryable
	}
	switch s := apiErr.StatusCode; {
	case s == http.StatusTooManyRequests:
		return ClassThrottled
	case s == http.StatusNotFound:
		return ClassNotFound
	case s == http.StatusUnauthorized:
		return ClassUnauthorized
	case s == http.StatusRequestTimeout || s >= 500:
		return ClassRetryable
	case s >= 300 && s < 400:
		return ClassTerminal // a redirect, not followed: the endpoint is misconfigured
	case s == http.StatusConflict:
		// 800060, 800064 and 800082 say "try again later"; other conflicts are about the input.
		switch apiErr.Code {
		case CodeOrderInProgress, CodeCartBeingProcessed, CodeSubscriptionNotReady, "":
			return ClassRetryable
		}
		return ClassTerminal
	}
	return ClassTerminal
}

// RetryAfter returns the server's Retry-After for a throttled error, or zero.
func RetryAfter(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}

// ErrorCode returns Partner Center's error code of an error, or "".
func ErrorCode(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return ""
}
