package controller

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// argoCDCustomization is config/argocd's resource_customizations directory for PartnerCart.
func argoCDCustomization() string {
	return filepath.Join(testenv.RepoRoot(), "config", "argocd", "partnercenter.partnercart.dev", "PartnerCart")
}

// argoHealth is what an Argo CD health script returns.
type argoHealth struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// runArgoCDHealth runs a health script the way Argo CD runs one from argocd-cm (util/lua:
// gopher-lua without the standard libraries, then package, base and table; the object as the
// global obj, converted as Argo CD's decodeValue does), and returns the table it returns.
func runArgoCDHealth(t *testing.T, script string, obj map[string]any) argoHealth {
	t.Helper()
	g := NewWithT(t)
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		g.Expect(l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name))).To(Succeed())
	}
	l.SetGlobal("obj", argoDecodeValue(l, obj))
	g.Expect(l.DoString(script)).To(Succeed())
	ret, ok := l.Get(-1).(*lua.LTable)
	g.Expect(ok).To(BeTrue(), "the script must return a table")
	field := func(name string) string {
		v := ret.RawGetString(name)
		s, isString := v.(lua.LString)
		g.Expect(isString || v == lua.LNil).To(BeTrue(), "%s must be a string", name)
		return string(s)
	}
	h := argoHealth{Status: field("status"), Message: field("message")}
	// The codes Argo CD accepts; any other becomes Unknown ("Lua returned an invalid health status").
	g.Expect(h.Status).To(BeElementOf("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"))
	return h
}

// argoDecodeValue converts a decoded object to Lua values as Argo CD does.
func argoDecodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(argoDecodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), argoDecodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

func readHealthScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(argoCDCustomization(), "health.lua"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// TestGitopsArgoCDHealth runs health_test.yaml as Argo CD's own resource_customizations test
// does: each captured object in testdata/ must get the recorded status and message.
func TestGitopsArgoCDHealth(t *testing.T) {
	g := NewWithT(t)
	script := readHealthScript(t)
	raw, err := os.ReadFile(filepath.Join(argoCDCustomization(), "health_test.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var tests struct {
		Tests []struct {
			HealthStatus argoHealth `json:"healthStatus"`
			InputPath    string     `json:"inputPath"`
		} `json:"tests"`
	}
	g.Expect(yaml.Unmarshal(raw, &tests)).To(Succeed())
	g.Expect(tests.Tests).To(HaveLen(len(gitopsStates)), "one case per state")
	for _, tc := range tests.Tests {
		t.Run(tc.InputPath, func(t *testing.T) {
			g := NewWithT(t)
			in, err := os.ReadFile(filepath.Join(argoCDCustomization(), tc.InputPath))
			g.Expect(err).NotTo(HaveOccurred())
			obj := map[string]any{}
			g.Expect(yaml.Unmarshal(in, &obj)).To(Succeed())
			g.Expect(runArgoCDHealth(t, script, obj)).To(Equal(tc.HealthStatus))
		})
	}
}

// TestGitopsArgoCDHealthCM: the argocd-cm snippet carries both health.lua scripts verbatim.
func TestGitopsArgoCDHealthCM(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "argocd", "argocd-cm.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	cm := &corev1.ConfigMap{}
	g.Expect(yaml.UnmarshalStrict(raw, cm)).To(Succeed())
	g.Expect(cm.Name).To(Equal("argocd-cm"))
	// Argo CD's install manifest names no namespace: a patch naming one matches nothing.
	g.Expect(cm.Namespace).To(BeEmpty(), "a strategic-merge patch of install.yaml's argocd-cm")
	account, err := os.ReadFile(filepath.Join(accountCustomization(), "health.lua"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Data).To(Equal(map[string]string{
		"resource.customizations.health.partnercenter.partnercart.dev_PartnerCart":          readHealthScript(t),
		"resource.customizations.health.partnercenter.partnercart.dev_PartnerCenterAccount": string(account),
	}))
}

// TestGitopsArgoCDHealthLive runs health.lua on carts driven into each state during the test.
// With PARTNERCART_UPDATE_GITOPS_TESTDATA=1 it rewrites testdata/ and health_test.yaml from
// them (after checking each against gitopsContracts).
func TestGitopsArgoCDHealthLive(t *testing.T) {
	script := readHealthScript(t)
	states := capturedGitopsStates(t)
	update := os.Getenv("PARTNERCART_UPDATE_GITOPS_TESTDATA") == "1"
	var cases []map[string]any
	for _, s := range gitopsStates {
		path := filepath.Join("testdata", s.name+".yaml")
		if update {
			obj := states[s.name]
			requireGitopsContract(t, s.name, obj)
			out, err := yaml.Marshal(obj.Object)
			NewWithT(t).Expect(err).NotTo(HaveOccurred())
			NewWithT(t).Expect(os.WriteFile(filepath.Join(argoCDCustomization(), path), out, 0o644)).To(Succeed())
			in, err := os.ReadFile(filepath.Join(argoCDCustomization(), path))
			NewWithT(t).Expect(err).NotTo(HaveOccurred())
			written := map[string]any{}
			NewWithT(t).Expect(yaml.Unmarshal(in, &written)).To(Succeed())
			cases = append(cases, map[string]any{"healthStatus": runArgoCDHealth(t, script, written), "inputPath": path})
		}
		t.Run(s.name, func(t *testing.T) {
			g := NewWithT(t)
			obj := states[s.name]
			requireGitopsContract(t, s.name, obj)
			h := runArgoCDHealth(t, script, obj.Object)
			g.Expect(h.Status).To(Equal(s.argo))
			g.Expect(h.Message).To(Equal(expectedArgoMessage(obj)))
		})
	}
	if update {
		out, err := yaml.Marshal(map[string]any{"tests": cases})
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		header := "# Generated by PARTNERCART_UPDATE_GITOPS_TESTDATA=1 go test ./internal/controller/ -run TestGitopsArgoCDHealthLive\n"
		NewWithT(t).Expect(os.WriteFile(filepath.Join(argoCDCustomization(), "health_test.yaml"), append([]byte(header), out...), 0o644)).To(Succeed())
	}
}

// expectedArgoMessage is the message the mapping of docs/gitops.md gives, computed in Go from
// the same object: the Stalled condition's reason and message when stalled, the Ready
// condition's otherwise, and the generation when it is not observed yet.
func expectedArgoMessage(obj *unstructured.Unstructured) string {
	observed, ok, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if !ok || observed != obj.GetGeneration() {
		return "Waiting for the operator to observe generation " + strings.TrimSpace(jsonNumber(obj.GetGeneration()))
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	find := func(typ string) map[string]any {
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == typ {
				return m
			}
		}
		return nil
	}
	describe := func(c map[string]any) string {
		reason, _ := c["reason"].(string)
		if msg, _ := c["message"].(string); msg != "" {
			return reason + ": " + msg
		}
		return reason
	}
	if c := find("Stalled"); c != nil && c["status"] == "True" {
		return describe(c)
	}
	if c := find("Ready"); c != nil {
		return describe(c)
	}
	return "Reconciling"
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
