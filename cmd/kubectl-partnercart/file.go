package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// decision is what --file writes: an approval or a denial.
type decision struct {
	approve *approveOptions
	deny    *denyOptions
}

// editFile approves or denies the PartnerCart of a manifest (the GitOps way: the change is
// reviewed and merged, and the API server stamps who applied it). The live cart is read when
// the cluster can be reached: it gives the spec hash to pin to and the same checks as an
// approval in the cluster.
func (e *env) editFile(ctx context.Context, o *options, d decision, name string) error {
	file, verb := "", "approve"
	if d.approve != nil {
		if err := d.approve.validate(); err != nil {
			return err
		}
		file = d.approve.file
	} else {
		file, verb = d.deny.file, "deny"
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	m, err := parseManifest(src)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	doc, err := m.find(name, o.namespace)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	live, c, ns, liveErr := e.readLive(ctx, o, &doc.cart)
	id := ns + "/" + doc.cart.Name
	if live != nil {
		if err := checkedOut(live, verb); err != nil {
			return err
		}
	} else {
		printf(e.errOut, "warning: PartnerCart %s was not read from the cluster (%v): the checks against the live cart were not made\n", id, liveErr)
	}

	var set []approvalField
	var remove, details []string
	if d.deny != nil {
		set = []approvalField{
			{key: "approved", text: "false", value: false},
			{key: "denied", text: "true", value: true},
			{key: "reason", text: yamlString(d.deny.reason), value: d.deny.reason},
		}
		details = append(details, "reason: "+oneLine(d.deny.reason))
	} else if set, remove, details, err = e.approvalFields(ctx, c, d.approve, doc, live, liveErr, id); err != nil {
		return err
	}
	out, err := m.editApproval(doc, set, remove)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := writeFileInPlace(file, out); err != nil {
		return err
	}
	past := map[string]string{"approve": "approved", "deny": "denied"}[verb]
	msg := fmt.Sprintf("%s: PartnerCart %s %s", file, id, past)
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	printLine(e.out, msg+"; the API server stamps approvedBy and approvedAt when the change is applied")
	return nil
}

// approvalFields are the fields approve --file sets and removes, after the checks against
// the live cart when there is one.
func (e *env) approvalFields(ctx context.Context, c client.Client, a *approveOptions, doc *manifestDoc, live *pcv1alpha1.PartnerCart,
	liveErr error, id string) (set []approvalField, remove, details []string, err error) {
	limit := a.maxTotal
	if limit == "" {
		limit = doc.cart.Spec.Approval.MaxTotalPrice
	}
	if live != nil {
		if err := refuseOrWarn(live, approveProblems(ctx, c, live, limit, a.maxTotal != "", e.errOut), a.force, e.errOut); err != nil {
			return nil, nil, nil, err
		}
	}
	set = append(set, approvalField{key: "approved", text: "true", value: true})
	if doc.hasApprovalKey("denied") || (live != nil && live.Spec.Approval.Denied) {
		set = append(set, approvalField{key: "denied", text: "false", value: false})
	}
	if a.pin {
		hash, err := pinFor(a, live, liveErr, id)
		if err != nil {
			return nil, nil, nil, err
		}
		set = append(set, approvalField{key: "specHash", text: hash, value: hash})
		details = append(details, "pinned to "+hash)
	} else {
		remove = append(remove, "specHash")
	}
	if a.maxTotal != "" {
		set = append(set, approvalField{key: "maxTotalPrice", text: yamlString(a.maxTotal), value: a.maxTotal})
	}
	if a.reason != "" {
		set = append(set, approvalField{key: "reason", text: yamlString(a.reason), value: a.reason})
	} else if doc.cart.Spec.Approval.Denied {
		remove = append(remove, "reason") // the denial's
	}
	if live != nil && quote(live) != "" {
		details = append(details, "quoted "+quote(live))
	}
	if limit != "" {
		details = append(details, "max total "+limit)
	}
	return set, remove, details, nil
}

// readLive reads the manifest's cart from the cluster: in its own namespace, else the
// context's. It returns the error that kept it from being read.
func (e *env) readLive(ctx context.Context, o *options, cart *pcv1alpha1.PartnerCart) (*pcv1alpha1.PartnerCart, client.Client, string, error) {
	ns := cart.Namespace
	c, ctxNS, err := e.newClient(o)
	if ns == "" {
		ns = ctxNS
	}
	if ns == "" {
		ns = "default"
	}
	if err != nil {
		return nil, nil, ns, err
	}
	var live pcv1alpha1.PartnerCart
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: cart.Name}, &live); err != nil {
		return nil, c, ns, err
	}
	return &live, c, ns, nil
}

// pinFor is the spec hash an approval in a manifest pins: the live cart's status.specHash
// (what was quoted), or --spec-hash when the cluster cannot be read.
func pinFor(a *approveOptions, live *pcv1alpha1.PartnerCart, liveErr error, id string) (string, error) {
	if live == nil {
		if a.specHash == "" {
			return "", fmt.Errorf("cannot pin: PartnerCart %s was not read from the cluster (%w); give --spec-hash (the Spec hash 'kubectl partnercart quote' shows), or --pin=false", id, liveErr)
		}
		return a.specHash, nil
	}
	if live.Status.SpecHash == "" {
		return "", fmt.Errorf("PartnerCart %s has no status.specHash yet (the operator has not seen it): wait, or approve with --pin=false", id)
	}
	if a.specHash != "" && a.specHash != live.Status.SpecHash {
		return "", fmt.Errorf("--spec-hash %s is not the live cart's status.specHash %s: run 'kubectl partnercart quote %s' again", a.specHash, live.Status.SpecHash, live.Name)
	}
	return live.Status.SpecHash, nil
}

// writeFileInPlace replaces file's content through a temporary file in the same directory,
// keeping its permissions, so that a failed write leaves the original.
func writeFileInPlace(file string, data []byte) error {
	info, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), info.Mode().Perm())); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}
