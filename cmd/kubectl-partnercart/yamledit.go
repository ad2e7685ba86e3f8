package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	pcv1alpha1 "github.com/partnercart/partnercart-operator/api/v1alpha1"
)

// A manifest is a YAML file of one or more documents, some of them PartnerCarts, that the
// plugin edits in place for a GitOps approval (`approve --file`, `deny --file`). It changes
// only the lines of spec.approval it sets or removes, so comments, key order, quoting,
// indentation and the other documents stay byte for byte as they were: the pull request
// shows the decision and nothing else.
type manifest struct {
	lines []string // the file split at "\n"; a line keeps a trailing "\r"
	docs  []*manifestDoc
}

// manifestDoc is one document of a manifest.
type manifestDoc struct {
	root   *yaml.Node // the document's top-level mapping, or nil
	data   any        // the document decoded, to check that an edit changed only what it should
	isCart bool
	cart   pcv1alpha1.PartnerCart
}

// approvalField is a field of spec.approval to set: its YAML text and the value it reads as.
type approvalField struct {
	key, text string
	value     any
}

func parseManifest(src []byte) (*manifest, error) {
	m := &manifest{lines: strings.Split(string(src), "\n")}
	docs, err := decodeDocuments(src)
	if err != nil {
		return nil, err
	}
	m.docs = docs
	return m, nil
}

func decodeDocuments(src []byte) ([]*manifestDoc, error) {
	var docs []*manifestDoc
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for i := 1; ; i++ {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		d := &manifestDoc{}
		if err := n.Decode(&d.data); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 && n.Content[0].Kind == yaml.MappingNode {
			d.root = n.Content[0]
			obj, _ := d.data.(map[string]any)
			apiVersion, _ := obj["apiVersion"].(string)
			kind, _ := obj["kind"].(string)
			if kind == "PartnerCart" && strings.HasPrefix(apiVersion, pcv1alpha1.GroupVersion.Group+"/") {
				body, err := json.Marshal(obj)
				if err == nil {
					err = json.Unmarshal(body, &d.cart)
				}
				if err != nil {
					return nil, fmt.Errorf("document %d: not a PartnerCart: %w", i, err)
				}
				d.isCart = true
			}
		}
		docs = append(docs, d)
	}
}

// find returns the PartnerCart document named name (in namespace ns when several are), or
// the only PartnerCart when name is "".
func (m *manifest) find(name, ns string) (*manifestDoc, error) {
	var carts, matches []*manifestDoc
	for _, d := range m.docs {
		if !d.isCart {
			continue
		}
		carts = append(carts, d)
		if d.cart.Name == name || name == "" {
			matches = append(matches, d)
		}
	}
	if len(matches) > 1 && ns != "" {
		var inNS []*manifestDoc
		for _, d := range matches {
			if d.cart.Namespace == ns {
				inNS = append(inNS, d)
			}
		}
		matches = inNS
	}
	switch {
	case len(carts) == 0:
		return nil, errors.New("the file holds no PartnerCart")
	case len(matches) == 1:
		return matches[0], nil
	case name == "":
		return nil, fmt.Errorf("the file holds %d PartnerCarts (%s): name the one to edit", len(carts), cartNames(carts))
	case len(matches) == 0:
		return nil, fmt.Errorf("the file holds no PartnerCart %q (it holds %s)", name, cartNames(carts))
	default:
		return nil, fmt.Errorf("the file holds %d PartnerCarts named %q: give -n NAMESPACE", len(matches), name)
	}
}

func cartNames(docs []*manifestDoc) string {
	names := make([]string, 0, len(docs))
	for _, d := range docs {
		names = append(names, d.cart.Name)
	}
	return strings.Join(names, ", ")
}

// hasApprovalKey reports whether the document writes spec.approval.<key>.
func (d *manifestDoc) hasApprovalKey(key string) bool {
	return d.hasSectionKey("approval", key)
}

// hasSectionKey reports whether the document writes spec.<section>.<key>.
func (d *manifestDoc) hasSectionKey(section, key string) bool {
	_, spec := mapEntry(d.root, "spec")
	_, approval := mapEntry(spec, section)
	k, _ := mapEntry(approval, key)
	return k != nil
}

// mapEntry returns the key and value nodes of key in mapping m.
func mapEntry(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func isBlockMapping(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 && len(n.Content) > 0
}

// lineEdits are changes to a file's lines, by index in the original.
type lineEdits struct {
	replace     map[int]string
	remove      map[int]bool
	insertAfter map[int][]string
}

// editApproval sets and removes fields of d's spec.approval and returns the new file.
func (m *manifest) editApproval(d *manifestDoc, set []approvalField, remove []string) ([]byte, error) {
	return m.editSection(d, "approval", set, remove)
}

// editSection sets and removes fields of the mapping spec.<section> of d (spec.approval,
// spec.cancellation) and returns the new file.
func (m *manifest) editSection(d *manifestDoc, section string, set []approvalField, remove []string) ([]byte, error) {
	ed := lineEdits{replace: map[int]string{}, remove: map[int]bool{}, insertAfter: map[int][]string{}}
	eol := ""
	if len(m.lines) > 0 && strings.HasSuffix(m.lines[0], "\r") {
		eol = "\r"
	}
	specKey, spec := mapEntry(d.root, "spec")
	if !isBlockMapping(spec) {
		return nil, fmt.Errorf("spec is not written as a block mapping: edit spec.%s by hand", section)
	}
	childIndent := spec.Content[0].Column - 1
	step := childIndent - (specKey.Column - 1)
	if step <= 0 {
		step = 2
	}
	newLines := func(indent int) []string {
		out := make([]string, 0, len(set))
		for _, f := range set {
			out = append(out, strings.Repeat(" ", indent)+f.key+": "+f.text+eol)
		}
		return out
	}
	apKey, ap := mapEntry(spec, section)
	switch {
	case apKey == nil:
		lines := append([]string{strings.Repeat(" ", childIndent) + section + ":" + eol}, newLines(childIndent+step)...)
		ed.insertAfter[specKey.Line-1] = lines
	case isBlockMapping(ap):
		if err := m.editBlock(ed, section, apKey, ap, set, remove, eol); err != nil {
			return nil, err
		}
	case (ap.Kind == yaml.MappingNode && len(ap.Content) == 0) || (ap.Kind == yaml.ScalarNode && ap.Tag == "!!null"):
		// approval: {} or approval: (null): the key line loses its value, the fields follow.
		head, err := m.keyLineWithoutValue(apKey)
		if err != nil {
			return nil, sectionError(err, section)
		}
		ed.replace[apKey.Line-1] = head + eol
		ed.insertAfter[apKey.Line-1] = newLines(apKey.Column - 1 + step)
	default:
		return nil, sectionError(errFlowStyle, section)
	}
	out := []byte(m.render(ed))
	if err := m.verify(d, section, out, set, remove); err != nil {
		return nil, fmt.Errorf("the edit did not come out as intended, the file is not changed: %w", err)
	}
	return out, nil
}

var errFlowStyle = errors.New("spec.approval is written in flow style: write it as a block mapping for the plugin to edit it")

// sectionError names spec.<section> instead of spec.approval in err.
func sectionError(err error, section string) error {
	if section == "approval" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), "spec.approval", "spec."+section))
}

// editBlock sets and removes fields of an approval written as a block mapping: a field
// there has its value replaced, a new one goes first under approval:, a removed one loses
// its line.
func (m *manifest) editBlock(ed lineEdits, section string, apKey, ap *yaml.Node, set []approvalField, remove []string, eol string) error {
	indent := ap.Content[0].Column - 1
	for _, f := range set {
		k, v := mapEntry(ap, f.key)
		if k == nil {
			ed.insertAfter[apKey.Line-1] = append(ed.insertAfter[apKey.Line-1], strings.Repeat(" ", indent)+f.key+": "+f.text+eol)
			continue
		}
		if v.Kind == yaml.SequenceNode {
			// A list of scalars (spec.cancellation.lineItems) is rewritten as one flow line.
			last, err := m.sequenceEnd(k, v)
			if err != nil {
				return fmt.Errorf("spec.%s.%s: %w", section, f.key, err)
			}
			ed.replace[k.Line-1] = strings.Repeat(" ", k.Column-1) + f.key + ": " + f.text + eol
			for l := k.Line; l < last; l++ {
				ed.remove[l] = true
			}
			continue
		}
		line, err := m.replaceScalar(v, f.text)
		if err != nil {
			return fmt.Errorf("spec.%s.%s: %w", section, f.key, err)
		}
		ed.replace[v.Line-1] = line
	}
	for _, key := range remove {
		k, v := mapEntry(ap, key)
		if k == nil {
			continue
		}
		if v.Kind == yaml.SequenceNode {
			last, err := m.sequenceEnd(k, v)
			if err != nil {
				return fmt.Errorf("spec.%s.%s: %w", section, key, err)
			}
			for l := k.Line - 1; l < last; l++ {
				ed.remove[l] = true
			}
			continue
		}
		if _, err := m.replaceScalar(v, ""); err != nil || v.Line != k.Line {
			return fmt.Errorf("spec.%s.%s is not on one line: remove it by hand", section, key)
		}
		ed.remove[k.Line-1] = true
	}
	return nil
}

// sequenceEnd is the (1-based) last line of a sequence of plain scalars under key k: the
// key's line for a flow sequence written on it, else the line of its last item.
func (m *manifest) sequenceEnd(k, v *yaml.Node) (int, error) {
	last := k.Line
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode || item.Style != 0 {
			return 0, errors.New("not a list of plain values: edit it by hand")
		}
		last = max(last, item.Line)
	}
	if v.Style&yaml.FlowStyle != 0 && last != k.Line {
		return 0, errors.New("a flow list over several lines: edit it by hand")
	}
	return last, nil
}

// keyLineWithoutValue is the line of key without its empty value ({}, null, ~ or nothing),
// keeping a comment.
func (m *manifest) keyLineWithoutValue(key *yaml.Node) (string, error) {
	line := m.lines[key.Line-1]
	start := byteOffset(line, key.Column-1)
	colon := strings.Index(line[start:], ":")
	if colon < 0 {
		return "", errors.New("spec.approval: cannot find its key's colon")
	}
	head, rest := line[:start+colon+1], strings.TrimRight(line[start+colon+1:], "\r")
	rest = strings.TrimLeft(rest, " ")
	for _, empty := range []string{"{}", "null", "~"} {
		if v, ok := strings.CutPrefix(rest, empty); ok {
			rest = v
			break
		}
	}
	switch t := strings.TrimSpace(rest); {
	case t == "":
		return head, nil
	case strings.HasPrefix(t, "#"):
		return head + " " + t, nil
	default:
		return "", errFlowStyle
	}
}

// render applies the line edits.
func (m *manifest) render(ed lineEdits) string {
	var b strings.Builder
	for i, line := range m.lines {
		if r, ok := ed.replace[i]; ok {
			line = r
		}
		if !ed.remove[i] {
			b.WriteString(line)
			if i < len(m.lines)-1 {
				b.WriteString("\n")
			}
		}
		for _, ins := range ed.insertAfter[i] {
			if i == len(m.lines)-1 {
				b.WriteString("\n")
			}
			b.WriteString(ins + "\n")
		}
	}
	return b.String()
}

// replaceScalar returns v's line with v's value replaced by text; v must be a scalar on one line.
func (m *manifest) replaceScalar(v *yaml.Node, text string) (string, error) {
	if v.Kind != yaml.ScalarNode || v.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) != 0 {
		return "", errors.New("not a plain or quoted value on one line: edit it by hand")
	}
	line := m.lines[v.Line-1]
	off := byteOffset(line, v.Column-1)
	end := -1
	switch {
	case v.Style&yaml.DoubleQuotedStyle != 0:
		for j := off + 1; j < len(line); j++ {
			if line[j] == '\\' {
				j++
			} else if line[j] == '"' {
				end = j + 1
				break
			}
		}
	case v.Style&yaml.SingleQuotedStyle != 0:
		for j := off + 1; j < len(line); j++ {
			if line[j] == '\'' {
				if j+1 < len(line) && line[j+1] == '\'' {
					j++
					continue
				}
				end = j + 1
				break
			}
		}
	default:
		if strings.HasPrefix(line[off:], v.Value) {
			end = off + len(v.Value)
		}
	}
	if end < 0 {
		return "", errors.New("not a plain or quoted value on one line: edit it by hand")
	}
	return line[:off] + text + line[end:], nil
}

// byteOffset converts a column counted in characters (as the YAML parser counts) into bytes.
func byteOffset(line string, col int) int {
	for i := range line {
		if col == 0 {
			return i
		}
		col--
	}
	return len(line)
}

// verify reads the edited file back: the same documents, the other ones unchanged, and in d
// only spec.approval changed, to the fields set and without the ones removed.
func (m *manifest) verify(d *manifestDoc, section string, out []byte, set []approvalField, remove []string) error {
	docs, err := decodeDocuments(out)
	if err != nil {
		return err
	}
	if len(docs) != len(m.docs) {
		return fmt.Errorf("%d documents instead of %d", len(docs), len(m.docs))
	}
	for i, old := range m.docs {
		if old != d {
			if !reflect.DeepEqual(docs[i].data, old.data) {
				return fmt.Errorf("document %d changed", i+1)
			}
			continue
		}
		want := deepCopyJSON(old.data)
		approval := sectionMap(want, section, true)
		for _, k := range remove {
			delete(approval, k)
		}
		for _, f := range set {
			approval[f.key] = f.value
		}
		if !reflect.DeepEqual(docs[i].data, want) {
			return fmt.Errorf("document %d reads %v, want %v", i+1, sectionMap(docs[i].data, section, false), approval)
		}
	}
	return nil
}

// sectionMap returns spec.<section> of a decoded document, created when create is true.
func sectionMap(doc any, section string, create bool) map[string]any {
	obj, _ := doc.(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	m, _ := spec[section].(map[string]any)
	if m == nil && create && spec != nil {
		m = map[string]any{}
		spec[section] = m
	}
	return m
}

func deepCopyJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopyJSON(e)
		}
		return out
	default:
		return v
	}
}

// yamlString is s as a YAML double-quoted scalar (JSON's string syntax is YAML's).
func yamlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
