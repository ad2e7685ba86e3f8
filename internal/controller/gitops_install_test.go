package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1beta1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
	"github.com/partnercart/partnercart-operator/internal/eventrec"
	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// argoCDInstallURL is how docs/gitops.md names Argo CD's install manifest; the version must be
// one vendored in test/argocd.
var argoCDInstallURL = regexp.MustCompile(`^https://raw\.githubusercontent\.com/argoproj/argo-cd/(v[0-9]+\.[0-9]+\.[0-9]+)/manifests/install\.yaml$`)

// pinnedKustomize is the kustomize the Makefile pins and installs ($KUSTOMIZE from make, or
// bin/kustomize).
func pinnedKustomize(t *testing.T) string {
	t.Helper()
	path := os.Getenv("KUSTOMIZE")
	if path == "" {
		path = filepath.Join(testenv.RepoRoot(), "bin", "kustomize")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("kustomize not found (%v): run `make kustomize`, or set KUSTOMIZE", err)
	}
	makefile, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Makefile"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	pin := regexp.MustCompile(`(?m)^KUSTOMIZE_VERSION \?= (\S+)$`).FindSubmatch(makefile)
	NewWithT(t).Expect(pin).NotTo(BeNil(), "the Makefile pins KUSTOMIZE_VERSION")
	out, err := exec.CommandContext(t.Context(), path, "version").CombinedOutput()
	NewWithT(t).Expect(err).NotTo(HaveOccurred(), string(out))
	NewWithT(t).Expect(strings.TrimSpace(string(out))).To(Equal(string(pin[1])), "the pinned kustomize")
	return path
}

// docYAMLBlock returns the one ```yaml block of docs/gitops.md that contains every marker.
func docYAMLBlock(t *testing.T, markers ...string) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "gitops.md"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	var found [][]byte
blocks:
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1) {
		for _, marker := range markers {
			if !bytes.Contains(m[1], []byte(marker)) {
				continue blocks
			}
		}
		found = append(found, m[1])
	}
	NewWithT(t).Expect(found).To(HaveLen(1), "docs/gitops.md has one yaml block with %q", markers)
	return found[0]
}

// TestGitopsArgoCDInstall builds the Argo CD kustomization of docs/gitops.md with the pinned
// kustomize, as a reader would: Argo CD's install manifest (the vendored copy of the version
// the doc names, for the URL), and each patch the doc lists, taken from config/argocd. The
// built argocd-cm must keep Argo CD's own settings and carry both health scripts verbatim, and
// the scripts as built must give every captured object of both health_test.yaml files its
// recorded health. The built argocd-notifications-cm must carry the trigger and its template.
func TestGitopsArgoCDInstall(t *testing.T) {
	g := NewWithT(t)
	kustomize := pinnedKustomize(t)
	block := docYAMLBlock(t, "argoproj/argo-cd/", "patches:")
	var k struct {
		Namespace string   `json:"namespace"`
		Resources []string `json:"resources"`
		Patches   []struct {
			Path string `json:"path"`
		} `json:"patches"`
	}
	g.Expect(yaml.UnmarshalStrict(block, &k)).To(Succeed())

	dir := t.TempDir()
	var resources []string
	for _, r := range k.Resources {
		m := argoCDInstallURL.FindStringSubmatch(r)
		g.Expect(m).NotTo(BeNil(), "the doc's resource %q is a pinned Argo CD install.yaml", r)
		vendored, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "test", "argocd", m[1], "install.yaml"))
		g.Expect(err).NotTo(HaveOccurred(), "Argo CD %s is vendored in test/argocd (see its README)", m[1])
		g.Expect(os.WriteFile(filepath.Join(dir, "install.yaml"), vendored, 0o600)).To(Succeed())
		resources = append(resources, "install.yaml")
	}
	g.Expect(resources).To(HaveLen(1))
	g.Expect(k.Patches).NotTo(BeEmpty())
	for _, p := range k.Patches {
		// The doc's patches are copies of config/argocd's files, next to the kustomization.
		g.Expect(filepath.Dir(p.Path)).To(Equal("."), "patch %s sits next to kustomization.yaml", p.Path)
		src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "argocd", p.Path))
		g.Expect(err).NotTo(HaveOccurred(), "the doc's patch %s is a file of config/argocd", p.Path)
		g.Expect(os.WriteFile(filepath.Join(dir, p.Path), src, 0o600)).To(Succeed())
	}
	// The URL is the only thing changed: the reader's kustomize fetches it, this one reads the copy.
	kustomization := strings.Replace(string(block), k.Resources[0], "install.yaml", 1)
	g.Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o600)).To(Succeed())

	cmd := exec.CommandContext(t.Context(), kustomize, "build", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	g.Expect(err).NotTo(HaveOccurred(), "kustomize build of docs/gitops.md's kustomization: %s", stderr.String())

	configMaps := map[string]*corev1.ConfigMap{}
	objects := 0
	for _, doc := range regexp.MustCompile(`(?m)^---\n`).Split(string(out), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		objects++
		var meta struct {
			Kind string `json:"kind"`
		}
		g.Expect(yaml.Unmarshal([]byte(doc), &meta)).To(Succeed())
		if meta.Kind != "ConfigMap" {
			continue
		}
		cm := &corev1.ConfigMap{}
		g.Expect(yaml.Unmarshal([]byte(doc), cm)).To(Succeed())
		configMaps[cm.Name] = cm
	}
	g.Expect(objects).To(BeNumerically(">", 50), "the whole install, patched")

	cm := configMaps["argocd-cm"]
	g.Expect(cm).NotTo(BeNil())
	g.Expect(cm.Namespace).To(Equal(k.Namespace))
	g.Expect(cm.Data).To(HaveKey("resource.exclusions"), "a merge into Argo CD's argocd-cm, not a replacement")
	account, err := os.ReadFile(filepath.Join(accountCustomization(), "health.lua"))
	g.Expect(err).NotTo(HaveOccurred())
	scripts := map[string]struct{ dir, script string }{
		"PartnerCart":          {argoCDCustomization(), readHealthScript(t)},
		"PartnerCenterAccount": {accountCustomization(), string(account)},
	}
	for kind, s := range scripts {
		built := cm.Data["resource.customizations.health.partnercenter.partnercart.dev_"+kind]
		g.Expect(built).To(Equal(s.script), "the built argocd-cm carries %s/health.lua verbatim", kind)
		cases := readHealthTests(t, s.dir)
		g.Expect(cases).NotTo(BeEmpty())
		for _, tc := range cases {
			t.Run(kind+"/"+tc.InputPath, func(t *testing.T) {
				obj := readTestdataObject(t, filepath.Join(s.dir, tc.InputPath))
				NewWithT(t).Expect(obj.GetKind()).To(Equal(kind))
				NewWithT(t).Expect(runArgoCDHealth(t, built, obj.Object)).To(Equal(tc.HealthStatus))
			})
		}
	}

	notifications := configMaps["argocd-notifications-cm"]
	g.Expect(notifications).NotTo(BeNil())
	g.Expect(notifications.Namespace).To(Equal(k.Namespace))
	var triggers []struct {
		When string   `json:"when"`
		Send []string `json:"send"`
	}
	g.Expect(yaml.Unmarshal([]byte(notifications.Data["trigger.on-partnercart-waiting"]), &triggers)).To(Succeed())
	g.Expect(triggers).To(HaveLen(1))
	g.Expect(triggers[0].When).To(Equal("app.status.health.status == 'Suspended'"))
	for _, template := range triggers[0].Send {
		g.Expect(notifications.Data).To(HaveKey("template."+template), "the trigger sends a template the patch defines")
	}
}

// TestGitopsFluxNotificationExample: the Provider and Alert of docs/gitops.md's Flux
// notifications route the Events of carts the documented Kustomization applied. A cart with the
// labels Flux puts on what it applies makes an Event through the manager's forwarder (with
// info severity, as WaitingForApproval); what reaches a stand-in notification-controller is
// matched against the Alert as notification-controller matches: the event source's kind, name
// (or '*') and namespace (the Alert's, unless it names one), and the severity.
func TestGitopsFluxNotificationExample(t *testing.T) {
	g := NewWithT(t)
	block := docYAMLBlock(t, "kind: Alert", "kind: Provider")
	objs := map[string]map[string]any{}
	for _, doc := range regexp.MustCompile(`(?m)^---\n`).Split(string(block), -1) {
		obj := map[string]any{}
		g.Expect(yaml.Unmarshal([]byte(doc), &obj)).To(Succeed())
		g.Expect(obj["apiVersion"]).To(Equal("notification.toolkit.fluxcd.io/v1beta3"))
		objs[obj["kind"].(string)] = obj
	}
	g.Expect(objs).To(HaveLen(2))
	var alert struct {
		Metadata struct{ Name, Namespace string } `json:"metadata"`
		Spec     struct {
			ProviderRef   struct{ Name string } `json:"providerRef"`
			EventSeverity string                `json:"eventSeverity"`
			EventSources  []struct {
				Kind, Name, Namespace string
			} `json:"eventSources"`
		} `json:"spec"`
	}
	var provider struct {
		Metadata struct{ Name, Namespace string } `json:"metadata"`
		Spec     struct{ Type string }            `json:"spec"`
	}
	for kind, into := range map[string]any{"Alert": &alert, "Provider": &provider} {
		raw, err := yaml.Marshal(objs[kind])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(yaml.Unmarshal(raw, into)).To(Succeed())
	}
	g.Expect(alert.Spec.ProviderRef.Name).To(Equal(provider.Metadata.Name))
	g.Expect(alert.Metadata.Namespace).To(Equal(provider.Metadata.Namespace))
	g.Expect(provider.Spec.Type).To(BeElementOf("slack", "msteams"))
	g.Expect(alert.Spec.EventSeverity).To(Equal("info"), "Normal events (approval needed, bought) are sent too")

	// A cart the Kustomization of the Alert applied, and one of its Events, forwarded.
	received := make(chan eventv1.Event, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev eventv1.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		received <- ev
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	fwd, err := eventrec.NewForwarder(srv.URL, "partnercart-controller", env.Scheme, eventrec.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = fwd.Start(ctx) }()
	cart := newCart("contoso", "contoso-e5")
	cart.Labels = map[string]string{"kustomize.toolkit.fluxcd.io/name": alert.Metadata.Name, "kustomize.toolkit.fluxcd.io/namespace": alert.Metadata.Namespace}
	fwd.Eventf(cart, nil, corev1.EventTypeNormal, pcv1alpha1.EventWaitingForApproval, "Reconcile", "Waiting for approval")
	var ev eventv1.Event
	g.Eventually(received).Should(Receive(&ev))
	g.Expect(ev.Message).To(HavePrefix("PartnerCart contoso/contoso-e5: "))

	selected := false
	for _, src := range alert.Spec.EventSources {
		ns := src.Namespace
		if ns == "" {
			ns = alert.Metadata.Namespace
		}
		if src.Kind == ev.InvolvedObject.Kind && (src.Name == "*" || src.Name == ev.InvolvedObject.Name) && ns == ev.InvolvedObject.Namespace {
			selected = true
		}
	}
	g.Expect(selected).To(BeTrue(), "the Alert's eventSources %+v select the forwarded event's involved object %+v", alert.Spec.EventSources, ev.InvolvedObject)
}
