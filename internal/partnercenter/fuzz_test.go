package partnercenter

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The fuzz targets below run their seeds (f.Add and testdata/fuzz/<Name>/) under plain
// `go test`; `go test -fuzz=FuzzDecodeCart ./internal/partnercenter/` explores further.
// Whatever Partner Center (or a proxy in front of it) sends, decoding must not panic, and
// what decodes must survive a round trip unchanged, since status is written from it.

// roundTrip checks that v, decoded from the wire, encodes to JSON that decodes and encodes to
// the same bytes again: nothing the operator records from an answer changes on the way
// through (empty and absent lists are the same thing on Partner Center's wire).
func roundTrip[T any](t *testing.T, v *T) {
	t.Helper()
	first, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("a decoded value does not encode: %v\n%#v", err, v)
	}
	again := new(T)
	if err := json.Unmarshal(first, again); err != nil {
		t.Fatalf("an encoded value does not decode: %v\n%s", err, first)
	}
	second, err := json.Marshal(again)
	if err != nil {
		t.Fatalf("a re-decoded value does not encode: %v\n%#v", err, again)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("round trip changed the value:\nfirst  %s\nsecond %s", first, second)
	}
}

// checkOrderStatus: normalising is idempotent and terminality does not depend on the spelling.
func checkOrderStatus(t *testing.T, s string) {
	t.Helper()
	n := NormalizeOrderStatus(s)
	if NormalizeOrderStatus(n) != n {
		t.Fatalf("NormalizeOrderStatus is not idempotent on %q: %q then %q", s, n, NormalizeOrderStatus(n))
	}
	if OrderStatusIsTerminal(s) != OrderStatusIsTerminal(n) {
		t.Fatalf("OrderStatusIsTerminal(%q) differs from its normal form %q", s, n)
	}
}

func FuzzDecodeCart(f *testing.F) {
	f.Add([]byte(`{"id":"c1","status":"Active","lineItems":[{"id":0,"catalogItemId":"CFQ7TTC0LF8S:0001:CFQ7TTC0N81H","quantity":25,"billingCycle":"monthly","termDuration":"P1Y","orderGroup":"0","pricing":{"price":57.00,"extendedPrice":1425.00}}]}`))
	f.Add([]byte(`{"lineItems":[{"id":1,"catalogItemId":"x:y:z","quantity":1,"error":{"errorCode":"10012","errorDescription":"Attestation","additionalInformation":{"maximumQuantity":2500}}}]}`))
	f.Add([]byte(`{"lineItems":[{"id":0,"addonItems":[{"id":1,"addonItems":[{"id":2,"error":{"errorCode":null}}]}],"participants":[{"key":"transaction_reseller","value":"5357564"}]}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`<html>502 Bad Gateway</html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var c Cart
		if err := json.Unmarshal(body, &c); err != nil {
			return
		}
		roundTrip(t, &c)
		var walk func([]CartLineItem)
		walk = func(lines []CartLineItem) {
			for _, l := range lines {
				if l.Error != nil {
					code := strconv.FormatInt(int64(l.Error.ErrorCode), 10)
					var back FlexibleInt
					if err := json.Unmarshal([]byte(strconv.Quote(code)), &back); err != nil || back != l.Error.ErrorCode {
						t.Fatalf("error code %d does not survive as a string: %v, %d", l.Error.ErrorCode, err, back)
					}
				}
				walk(l.AddonItems)
			}
		}
		walk(c.LineItems)
	})
}

func FuzzDecodeCheckoutResult(f *testing.F) {
	f.Add([]byte(`{"orders":[{"id":"CAYHS1fpAAAAAAAAAAA","alternateId":"a","status":"pending","creationDate":"2019-08-21T23:29:58.447Z","totalPrice":1425.00,"currencyCode":"USD","lineItems":[{"lineItemNumber":0,"offerId":"CFQ7TTC0LF8S:0001","subscriptionId":"","quantity":25}]}],"orderErrors":[]}`))
	f.Add([]byte(`{"orders":[],"orderErrors":[{"orderGroupId":"1","code":800002,"description":"credit limit"}]}`))
	f.Add([]byte(`{"orders":[{"id":"o","status":"Partial_Success"},{"id":"p","status":"po review rejected"}],"orderErrors":[{"orderGroupId":"0","code":"800002"}]}`))
	f.Add([]byte(`{"orders":[{"id":1}]}`))
	f.Add([]byte(`{"orders":[{"id":"o","status":"PartialSuccess","totalPrice":"","lineItems":[{"lineItemNumber":0,"pricing":{"price":"57.00","extendedPrice":null}}]}],"orderErrors":[{"orderGroupId":"1","code":"800009"}]}`))
	f.Add([]byte(`{"orders":[{"id":"o","totalPrice":"twelve"}]}`))
	f.Add([]byte("\xff\xfe{"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r CartCheckoutResult
		if err := json.Unmarshal(body, &r); err != nil {
			return
		}
		roundTrip(t, &r)
		for _, o := range r.Orders {
			checkOrderStatus(t, o.Status)
			if o.TotalPrice != "" {
				if _, err := o.TotalPrice.Float64(); err != nil && !strings.Contains(err.Error(), "range") {
					t.Fatalf("totalPrice %q decoded but is not a number: %v", o.TotalPrice, err)
				}
			}
		}
	})
}

func FuzzDecodeErrorBody(f *testing.F) {
	f.Add(400, []byte(`{"code":800065,"description":"Cart already submitted","data":[],"source":"PartnerFD"}`))
	f.Add(409, []byte(`{"code":"800064","description":"The cart is being processed"}`))
	f.Add(404, []byte(`{"code":null,"description":""}`))
	f.Add(429, []byte(`{"statusCode":429,"message":"Rate limit is exceeded. Try again in 7 seconds."}`))
	f.Add(502, []byte("<html><body>\n\t<h1>502 Bad Gateway</h1>\r\n</body></html>"))
	f.Add(500, []byte(""))
	f.Add(503, []byte("\x00\x01\x1b[31mred\xff"))
	f.Add(400, []byte(`{"code":1.5e3}`))
	f.Add(401, []byte(`{"code":{"nested":true}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		code, description := describeFailure(status, body)

		var fault struct {
			Code        FlexibleString `json:"code"`
			Description string         `json:"description"`
			Message     string         `json:"message"`
		}
		if json.Unmarshal(body, &fault) == nil && (fault.Code != "" || fault.Description != "" || fault.Message != "") {
			// A Partner Center body: its code and description are reported as sent.
			if fault.Code != "" || fault.Description != "" {
				if code != string(fault.Code) || description != fault.Description {
					t.Fatalf("ApiFault body read as (%q, %q), want (%q, %q)", code, description, fault.Code, fault.Description)
				}
			} else if code != "" || description != fault.Message {
				t.Fatalf("throttle body read as (%q, %q), want message %q", code, description, fault.Message)
			}
		} else {
			// Anything else (a gateway's HTML page, binary): no code, and a short, printable
			// description that is safe in logs, events and status.
			if code != "" {
				t.Fatalf("a non-Partner-Center body produced code %q", code)
			}
			if !utf8.ValidString(description) {
				t.Fatalf("description is not valid UTF-8: %q", description)
			}
			for _, r := range description {
				if unicode.IsControl(r) {
					t.Fatalf("description holds control character %U: %q", r, description)
				}
			}
			if max := len(http.StatusText(status)) + len(": ") + maxErrorSnippet; len(description) > max {
				t.Fatalf("description is %d bytes, want at most %d", len(description), max)
			}
		}

		// The whole ErrorBody decodes or fails cleanly; what decodes round-trips.
		var eb ErrorBody
		if json.Unmarshal(body, &eb) == nil {
			roundTrip(t, &eb)
		}
		// FlexibleString and FlexibleInt agree on integer codes, whether quoted or not.
		var fi FlexibleInt
		if json.Unmarshal(body, &fi) == nil {
			var fs FlexibleString
			n := strconv.FormatInt(int64(fi), 10)
			if err := json.Unmarshal([]byte(n), &fs); err != nil || string(fs) != n {
				t.Fatalf("FlexibleString of %s is %q (%v)", n, fs, err)
			}
			var again FlexibleInt
			if err := json.Unmarshal([]byte(strconv.Quote(n)), &again); err != nil || again != fi {
				t.Fatalf("FlexibleInt of %q is %d (%v), want %d", n, again, err, fi)
			}
		}
		var fs FlexibleString
		if json.Unmarshal(body, &fs) == nil {
			b, err := json.Marshal(fs)
			if err != nil {
				t.Fatal(err)
			}
			var again FlexibleString
			if err := json.Unmarshal(b, &again); err != nil || again != fs {
				t.Fatalf("FlexibleString %q does not round-trip: %q (%v)", fs, again, err)
			}
		}
	})
}
