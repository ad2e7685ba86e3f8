// Package policy holds the admission policies the operator's purchase safety rests on
// (approval.yaml, cancellation.yaml, freeze_after_checkout.yaml), embedded so that the manager can check that the
// cluster enforces exactly these before it buys anything.
package policy

import "embed"

// Files are the policies and their bindings, as kustomize and the Helm chart install them
// (names get the install's prefix; nothing else changes).
//
//go:embed approval.yaml cancellation.yaml freeze_after_checkout.yaml
var Files embed.FS
