// Package badinput holds a corpus of invalid PartnerCart manifests and the test that applies
// each of them to a real kube-apiserver, proving that validation lives in the CRD and the
// admission policy: a bad object is refused at once, with a message naming the field.
//
// Layout:
//
//	NN-short-name.yaml              refused on create; the header "# expect: <text>" is a
//	                                substring of the API server's error message
//	valid/*.yaml                    controls that must be accepted (validation not too strict)
//	post-checkout/base.yaml         a cart that is created and then marked checked out
//	post-checkout/NN-*.yaml         edits of that cart refused by the freeze-after-checkout policy
//	post-checkout/allowed/*.yaml    edits of that cart the policy must let through
package badinput
