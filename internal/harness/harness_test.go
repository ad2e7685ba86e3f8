package harness

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

func TestParseMetrics(t *testing.T) {
	in := `# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:1",method="GET"} 12
rest_client_requests_total{code="201",host="127.0.0.1:1",method="POST"} 3
rest_client_requests_total{code="200",host="127.0.0.1:1",method="PATCH"} 4.5
workqueue_depth{controller="partnercart",name="partnercart"} 0
odd{a="x\"y,z",b="2"} 1e3
process_cpu_seconds_total 1.25
# TYPE partnercenter_request_duration_seconds histogram
partnercenter_request_duration_seconds_bucket{operation="Checkout",le="0.1"} 3
partnercenter_request_duration_seconds_bucket{operation="Checkout",le="+Inf"} 4
partnercenter_request_duration_seconds_sum{operation="Checkout"} 0.75
partnercenter_request_duration_seconds_count{operation="Checkout"} 4
`
	ms, err := ParseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	writes := ms.Sum("rest_client_requests_total", func(l map[string]string) bool { return l["method"] != "GET" })
	if writes != 7.5 {
		t.Errorf("writes = %v, want 7.5", writes)
	}
	if got := ms.Sum("workqueue_depth", func(l map[string]string) bool { return l["name"] == "partnercart" }); got != 0 {
		t.Errorf("depth = %v", got)
	}
	if got := ms.Sum("odd", func(l map[string]string) bool { return l["a"] == `x"y,z` && l["b"] == "2" }); got != 1000 {
		t.Errorf("odd = %v", got)
	}
	if got := ms.Sum("process_cpu_seconds_total", nil); got != 1.25 {
		t.Errorf("cpu = %v", got)
	}
	// Histograms come out as the text names their samples.
	checkout := func(l map[string]string) bool { return l["operation"] == "Checkout" }
	for name, want := range map[string]float64{
		"partnercenter_request_duration_seconds_sum":   0.75,
		"partnercenter_request_duration_seconds_count": 4,
	} {
		if got := ms.Sum(name, checkout); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for le, want := range map[string]float64{"0.1": 3, "+Inf": 4} {
		if got := ms.Sum("partnercenter_request_duration_seconds_bucket", func(l map[string]string) bool { return checkout(l) && l["le"] == le }); got != want {
			t.Errorf("bucket le=%s = %v, want %v", le, got, want)
		}
	}
	if _, err := ParseMetrics(strings.NewReader("broken{ 1\n")); err == nil {
		t.Error("a malformed line parsed")
	}
}

func TestScanText(t *testing.T) {
	clean := `{"level":"info","msg":"Checked out cart 55818bd4-da33-471c-b4bd-599500bc531e","requestId":"966ea9d0-7b3a-5504-b8d7-ac4c65850e84"}`
	if leaks := ScanText("log", clean); len(leaks) != 0 {
		t.Errorf("false positives: %v", leaks)
	}
	for _, dirty := range []string{
		"clientSecret=" + ClientSecret,
		`"Authorization":"Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi"`,
		`{"access_token":"x"}`,
		"token ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRST in a message",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIEow",
		`{"tls.key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvuNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ"}`,
		// A client assertion: header, claims and signature, base64url.
		"client_assertion=eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2xvZ2luIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU",
	} {
		leaks := ScanText("log", dirty)
		if len(leaks) == 0 {
			t.Errorf("missed a leak in %q", dirty)
		}
		for _, l := range leaks {
			if strings.Contains(l.String(), ClientSecret) {
				t.Errorf("the report repeats the secret: %s", l)
			}
		}
	}
}

func TestScannerFindsItsSecretsAndNeverRepeatsThem(t *testing.T) {
	const secret = "demo-only-secret-for-pcsim"
	s := Scanner{Secrets: []string{secret}}
	if leaks := s.ScanText("log", "clientSecret=harness-s3cr3t elsewhere"); len(leaks) != 0 {
		t.Errorf("a Scanner with its own secrets reports another's: %v", leaks)
	}
	leaks := s.ScanText("manager.log", `{"msg":"Signed in","clientSecret":"`+secret+`","more":"`+strings.Repeat("x", 80)+`"}`)
	if len(leaks) != 1 || leaks[0].Pattern != "a client secret" || leaks[0].Where != "manager.log" {
		t.Fatalf("leaks = %v, want the client secret once in manager.log", leaks)
	}
	// A report of another pattern whose excerpt starts or ends inside the secret hides that
	// part too.
	text := secret[4:] + " Authorization: Bearer abcdefghijklmnopqrstuvwxyz " + secret[:20]
	for _, l := range append(leaks, s.ScanText("log", text)...) {
		for n := 8; n <= len(secret); n++ {
			if strings.Contains(l.Excerpt, secret[:n]) || strings.Contains(l.Excerpt, secret[len(secret)-n:]) {
				t.Errorf("the report repeats %d bytes of the secret: %s", n, l)
			}
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	cart := func(phase pcv1alpha1.Phase, conds ...metav1.Condition) *pcv1alpha1.PartnerCart {
		return &pcv1alpha1.PartnerCart{Status: pcv1alpha1.PartnerCartStatus{Phase: phase, Conditions: conds}}
	}
	revoked := func(gen, observed int64, co *pcv1alpha1.CheckoutStatus) *pcv1alpha1.PartnerCart {
		c := cart(pcv1alpha1.PhaseAwaitingApproval)
		c.Generation, c.Status.ObservedGeneration, c.Status.Checkout = gen, observed, co
		return c
	}
	cond := func(typ string, st metav1.ConditionStatus, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: st, Message: msg, LastTransitionTime: metav1.NewTime(time.Now())}
	}
	for _, tc := range []struct {
		cart *pcv1alpha1.PartnerCart
		want Outcome
	}{
		{cart(pcv1alpha1.PhaseCompleted, cond(pcv1alpha1.ReadyCondition, metav1.ConditionTrue, "done")), Completed},
		{cart(pcv1alpha1.PhaseCompleted, cond(pcv1alpha1.ReadyCondition, metav1.ConditionFalse, "x")), InFlight},
		{cart(pcv1alpha1.PhaseFailed, cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, "why")), Stalled},
		{cart(pcv1alpha1.PhaseFailed, cond(pcv1alpha1.StalledCondition, metav1.ConditionTrue, " ")), InFlight},
		{cart(pcv1alpha1.PhaseCheckingOut), InFlight},
		{revoked(1, 1, nil), AwaitingApproval},
		{revoked(2, 1, nil), InFlight}, // the revoke not seen yet
		{revoked(1, 1, &pcv1alpha1.CheckoutStatus{Outcome: pcv1alpha1.CheckoutPending}), InFlight},
	} {
		if got := OutcomeOf(tc.cart); got != tc.want {
			t.Errorf("OutcomeOf(%s) = %v, want %v", Describe(tc.cart), got, tc.want)
		}
	}
}

func TestReadProcStatsSelf(t *testing.T) {
	ps, err := ReadProcStats(1)
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if ps.PeakRSS <= 0 {
		t.Errorf("PeakRSS = %d", ps.PeakRSS)
	}
}

// A restarted manager once failed to bind a port FreeAddr had picked with :0, because an
// outgoing connection took it first. Ports must come from below the ephemeral range, never
// twice, and be bindable.
func TestFreeAddrStaysOutOfTheEphemeralRange(t *testing.T) {
	lo, hi := freePortRange()
	seen := map[string]bool{}
	for range 50 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, portText, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portText)
		if port < lo || port >= hi {
			t.Fatalf("FreeAddr gave %s, outside [%d, %d)", addr, lo, hi)
		}
		if seen[addr] {
			t.Fatalf("FreeAddr gave %s twice", addr)
		}
		seen[addr] = true
		var lc net.ListenConfig
		l, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("cannot listen on %s: %v", addr, err)
		}
		_ = l.Close()
	}
}
