package controller

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// specBytes turns fuzz input into decisions; past the end it answers 0.
type specBytes struct {
	data []byte
	i    int
}

func (b *specBytes) next() int {
	if b.i >= len(b.data) {
		return 0
	}
	b.i++
	return int(b.data[b.i-1])
}

func (b *specBytes) pick(options ...string) string { return options[b.next()%len(options)] }

var (
	fuzzBillingCycles = []string{"monthly", "annual", "none", "one_time", "triennial", "unknown"}
	fuzzTerms         = []string{"", "P1M", "P1Y", "P3Y", "P1D"}
	fuzzParticipants  = []string{"transaction_reseller", "additional_transaction_reseller", "consumption_reseller", "unknown"}
	specHashForm      = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// fuzzLine builds one line (or add-on) with the given id.
func fuzzLine(b *specBytes, id int32) pcv1alpha1.LineItemFields {
	f := pcv1alpha1.LineItemFields{
		ID:            id,
		CatalogItemID: fmt.Sprintf("CFQ7TTC0%02X:%04d:CFQ7TTC0%02X", b.next(), b.next()%3, b.next()),
		Quantity:      int32(1 + (b.next()<<8|b.next())%100000),
		BillingCycle:  pcv1alpha1.BillingCycle(b.pick(fuzzBillingCycles...)),
		TermDuration:  b.pick(fuzzTerms...),
		FriendlyName:  b.pick("", "Contoso", "Contoso E5", "ÄÖÜ \"quoted\""),
		PromotionID:   b.pick("", "39NFJQT1PHSN:0008:39NFJQT1Q5J0"),
	}
	switch b.next() % 3 {
	case 1:
		f.AttestationAccepted = ptr.To(true)
	case 2:
		f.AttestationAccepted = ptr.To(false)
	}
	if n := b.next() % 3; n > 0 {
		f.ProvisioningContext = map[string]string{}
		for k := range n {
			f.ProvisioningContext[fmt.Sprintf("key%d", k)] = b.pick("shared", "single", "")
		}
	}
	for range b.next() % 4 {
		f.Participants = append(f.Participants, pcv1alpha1.Participant{
			Key: pcv1alpha1.ParticipantKey(b.pick(fuzzParticipants...)), Value: fmt.Sprintf("53575%02d", b.next()%4),
		})
	}
	if b.next()%2 == 1 {
		f.RenewsTo = &pcv1alpha1.RenewsTo{TermDuration: b.pick("P1M", "P1Y")}
	}
	if b.next()%3 == 1 {
		f.PurchaseCommitment = &pcv1alpha1.PurchaseCommitment{Amount: fmt.Sprintf("%d.%02d", 1+b.next(), b.next()%100), Currency: "USD", Grain: b.pick("hourly", "monthly")}
	}
	return f
}

// fuzzSpec builds a spec the CRD would accept as far as the hash is concerned: 1 to 6 lines
// with unique ids, each with 0 to 3 add-ons whose ids are unique in their line and unlike any
// top-level id.
func fuzzSpec(data []byte) *pcv1alpha1.PartnerCartSpec {
	b := &specBytes{data: data}
	spec := &pcv1alpha1.PartnerCartSpec{
		CustomerID:           fmt.Sprintf("932c4101-dc08-461b-b4c1-75d80e9057%02x", b.next()),
		CredentialsSecretRef: &pcv1alpha1.SecretReference{Name: "partner-center"},
	}
	if b.next()%2 == 1 {
		spec.PartnerOnRecordAttestationAccepted = ptr.To(b.next()%2 == 1)
	}
	n, base, step := 1+b.next()%6, b.next(), 1+b.next()%7
	for i := range n {
		line := pcv1alpha1.CartLineItem{LineItemFields: fuzzLine(b, int32(base+i*step))}
		for j := range b.next() % 4 {
			line.AddonItems = append(line.AddonItems, pcv1alpha1.CartAddonItem{LineItemFields: fuzzLine(b, int32(1000+100*i+j))})
		}
		spec.LineItems = append(spec.LineItems, line)
	}
	return spec
}

// reorder returns the spec with its lines, every line's add-ons and every participant list
// rotated (and reversed when the high bit of rot is set): the same purchase, listed differently.
func reorder(spec *pcv1alpha1.PartnerCartSpec, rot uint8) *pcv1alpha1.PartnerCartSpec {
	out := spec.DeepCopy()
	shuffle := func(n int, swap func(i, j int)) {
		if n < 2 {
			return
		}
		k := int(rot) % n
		// rotate left by k: reverse all, reverse the two parts.
		rev := func(lo, hi int) {
			for ; lo < hi; lo, hi = lo+1, hi-1 {
				swap(lo, hi)
			}
		}
		rev(0, n-1)
		rev(0, n-k-1)
		rev(n-k, n-1)
		if rot&0x80 != 0 {
			rev(0, n-1)
		}
	}
	shuffle(len(out.LineItems), func(i, j int) { out.LineItems[i], out.LineItems[j] = out.LineItems[j], out.LineItems[i] })
	for i := range out.LineItems {
		l := &out.LineItems[i]
		shuffle(len(l.AddonItems), func(a, b int) { l.AddonItems[a], l.AddonItems[b] = l.AddonItems[b], l.AddonItems[a] })
		shuffle(len(l.Participants), func(a, b int) { l.Participants[a], l.Participants[b] = l.Participants[b], l.Participants[a] })
		for j := range l.AddonItems {
			p := l.AddonItems[j].Participants
			shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
		}
	}
	return out
}

// FuzzSpecHash checks the canonicalisation the approval pin and the exactly-once protocol
// rely on: the hash is deterministic and does not touch the spec; listing the same purchase
// in another order never changes it; changing what is bought (a quantity, a catalog item, the
// customer) always does; approval, credentials and deletion policy are not purchase content.
func FuzzSpecHash(f *testing.F) {
	f.Add([]byte{1, 0, 25}, uint8(0))
	f.Add([]byte("a cart with several lines, add-ons and participants in some order"), uint8(0x83))
	f.Fuzz(func(t *testing.T, data []byte, rot uint8) {
		spec := fuzzSpec(data)
		pristine := spec.DeepCopy()
		h := SpecHash(spec)
		if !specHashForm.MatchString(h) {
			t.Fatalf("hash %q is not sha256:<64 hex>", h)
		}
		if !reflect.DeepEqual(spec, pristine) {
			t.Fatal("SpecHash changed the spec it hashed")
		}
		if again := SpecHash(spec.DeepCopy()); again != h {
			t.Fatalf("hashing is not deterministic: %s then %s", h, again)
		}

		if r := reorder(spec, rot); SpecHash(r) != h {
			t.Fatalf("reordering (rot %d) changed the hash:\n%s\n%s", rot, describeOrder(spec), describeOrder(r))
		}

		same := spec.DeepCopy()
		same.Approval = pcv1alpha1.Approval{Approved: true, SpecHash: h, MaxTotalPrice: "1"}
		same.CredentialsSecretRef.Name = "other"
		same.DeletionPolicy = pcv1alpha1.DeletionPolicyOrphan
		same.CustomerID = strings.ToUpper(same.CustomerID)
		if SpecHash(same) != h {
			t.Fatal("approval, credentials, deletion policy or the case of the customer ID changed the hash")
		}

		// The line to change, found by id in whatever order the spec is listed.
		target := spec.LineItems[int(rot)%len(spec.LineItems)]
		line := func(s *pcv1alpha1.PartnerCartSpec) *pcv1alpha1.CartLineItem {
			for i := range s.LineItems {
				if s.LineItems[i].ID == target.ID {
					return &s.LineItems[i]
				}
			}
			t.Fatalf("line %d vanished", target.ID)
			return nil
		}
		changed := map[string]func(*pcv1alpha1.PartnerCartSpec){
			"quantity":      func(s *pcv1alpha1.PartnerCartSpec) { l := line(s); l.Quantity = otherQuantity(l.Quantity) },
			"catalogItemId": func(s *pcv1alpha1.PartnerCartSpec) { line(s).CatalogItemID += "X" },
			"customerId": func(s *pcv1alpha1.PartnerCartSpec) {
				s.CustomerID = "00000000-0000-0000-0000-000000000001"
			},
		}
		if len(target.AddonItems) > 0 {
			addon := func(s *pcv1alpha1.PartnerCartSpec) *pcv1alpha1.CartAddonItem {
				for i, a := range line(s).AddonItems {
					if a.ID == target.AddonItems[0].ID {
						return &line(s).AddonItems[i]
					}
				}
				t.Fatalf("add-on %d vanished", target.AddonItems[0].ID)
				return nil
			}
			changed["add-on quantity"] = func(s *pcv1alpha1.PartnerCartSpec) { a := addon(s); a.Quantity = otherQuantity(a.Quantity) }
			changed["add-on catalogItemId"] = func(s *pcv1alpha1.PartnerCartSpec) { addon(s).CatalogItemID += "X" }
		}
		for what, change := range changed {
			c := reorder(spec, rot) // a change is seen whatever the order
			change(c)
			if SpecHash(c) == h {
				t.Fatalf("changing the %s of line %d (order %s) did not change the hash", what, target.ID, describeOrder(c))
			}
		}
	})
}

func otherQuantity(q int32) int32 {
	if q < 100000 {
		return q + 1
	}
	return q - 1
}

func describeOrder(s *pcv1alpha1.PartnerCartSpec) string {
	var parts []string
	for _, l := range s.LineItems {
		ids := []string{fmt.Sprint(l.ID)}
		for _, a := range l.AddonItems {
			ids = append(ids, fmt.Sprint(a.ID))
		}
		parts = append(parts, strings.Join(ids, "+"))
	}
	return strings.Join(slices.Clip(parts), ",")
}
