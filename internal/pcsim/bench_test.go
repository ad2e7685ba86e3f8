package pcsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// BenchmarkCreateAndCheckout measures create + checkout in-process, in parallel, so the
// sharded stores are exercised rather than the network stack.
func BenchmarkCreateAndCheckout(b *testing.B) {
	srv, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/t/oauth2/v2.0/token",
		strings.NewReader("grant_type=client_credentials&client_id=a&client_secret=b&scope=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var tok tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil {
		b.Fatal(err)
	}
	body := `{"lineItems":[{"id":0,"catalogItemId":"` + e5 + `","quantity":5,"billingCycle":"monthly","termDuration":"P1M"}]}`
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			customer := fmt.Sprintf("00000000-0000-0000-0000-%012d", n.Add(1)%500+1)
			r := httptest.NewRequestWithContext(ctx, http.MethodPost, cartsPath(customer), strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			var ct struct{ ID string }
			if err := json.Unmarshal(w.Body.Bytes(), &ct); err != nil || w.Code != http.StatusCreated {
				b.Errorf("create: %d %s", w.Code, w.Body) // Fatal is not allowed off the benchmark goroutine
				return
			}
			r = httptest.NewRequestWithContext(ctx, http.MethodPost, cartPath(customer, ct.ID)+"/checkout", nil)
			r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			w = httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Errorf("checkout: %d %s", w.Code, w.Body)
				return
			}
		}
	})
	if st := srv.Stats(); st.DuplicateCheckouts != 0 {
		b.Fatalf("duplicate checkouts: %d", st.DuplicateCheckouts)
	}
}
