package partnercenter

import (
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"
)

func TestProvisioningContextKeepsValuesThatAreNotStrings(t *testing.T) {
	g := NewWithT(t)
	body := `{"orders":[{"id":"o-1","status":"pending","lineItems":[{"lineItemNumber":0,"quantity":1,
		"provisioningContext":{"Scope":"single","entitlementId":"sub-1","duration":3,"autoRenew":true,
		"limits":{"max":12.50},"price":1234567890.123456789}}]}]}`

	var res CartCheckoutResult
	g.Expect(json.Unmarshal([]byte(body), &res)).To(Succeed(), "one value that is not a string must not sink the answer")

	pcx := res.Orders[0].LineItems[0].ProvisioningContext
	g.Expect(pcx.Get("scope")).To(Equal("single"), "keys compare case-insensitively")
	g.Expect(pcx.Get("EntitlementId")).To(Equal("sub-1"))
	g.Expect(pcx.Get("duration")).To(Equal("3"))
	g.Expect(pcx.Get("autoRenew")).To(Equal("true"))
	g.Expect(pcx.Get("limits")).To(Equal(`{"max":12.50}`))
	g.Expect(pcx.Get("price")).To(Equal("1234567890.123456789"), "numbers are never floats")
	_, present := pcx.Lookup("subscriptionId")
	g.Expect(present).To(BeFalse())

	again, err := json.Marshal(pcx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(again)).To(Equal(`{"Scope":"single","autoRenew":true,"duration":3,"entitlementId":"sub-1","limits":{"max":12.50},"price":1234567890.123456789}`))
}

func TestProvisioningContextOfStringsEncodesLikeTheStringMap(t *testing.T) {
	g := NewWithT(t)
	m := map[string]string{"scope": "shared", "subscriptionId": "0d3b1f0e", "a<b": "x&y"}
	want, _ := json.Marshal(m)
	got, _ := json.Marshal(ProvisioningContextOf(m))
	g.Expect(string(got)).To(Equal(string(want)), "spec hashes built from it must not change")
	g.Expect(ProvisioningContextOf(nil)).To(BeNil())
	g.Expect(ProvisioningContextOf(m).Strings()).To(Equal(m))
}

func TestProvisioningContextThatIsNotAnObjectIsRefused(t *testing.T) {
	var li CartLineItem
	NewWithT(t).Expect(json.Unmarshal([]byte(`{"id":0,"provisioningContext":["scope"]}`), &li)).NotTo(Succeed())
}

func TestNormalizeBillingCycle(t *testing.T) {
	g := NewWithT(t)
	for in, want := range map[string]string{
		"Monthly": "monthly", "monthly": "monthly", "ANNUAL": "annual", "OneTime": "one_time", "one_time": "one_time",
		"Biennial": "biennial", "Triennial": "triennial", "None": "none", "Unknown": "unknown", "fortnightly": "fortnightly",
	} {
		g.Expect(NormalizeBillingCycle(in)).To(Equal(want), in)
	}
}

func TestJSONDiffReportsLossesAndChanges(t *testing.T) {
	g := NewWithT(t)
	want := normalizeJSON(mustGeneric(t, []byte(`{"A":{"price":30.4,"ids":["1","2"]},"keep":"x","empty":[]}`)))
	g.Expect(jsonDiff("$", want, normalizeJSON(mustGeneric(t, []byte(`{"a":{"price":30.4,"ids":["1","2"]},"keep":"x"}`))))).To(BeEmpty())
	g.Expect(jsonDiff("$", want, normalizeJSON(mustGeneric(t, []byte(`{"a":{"price":30.40,"ids":["1","2"]},"keep":"x"}`))))).
		To(ConsistOf(ContainSubstring("$.a.price: changed")))
	g.Expect(jsonDiff("$", want, normalizeJSON(mustGeneric(t, []byte(`{"a":{"price":30.4},"keep":"x"}`))))).
		To(ConsistOf(ContainSubstring("$.a.ids: lost")))
}
