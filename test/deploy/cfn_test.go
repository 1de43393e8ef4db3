package deploy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/slsrtc/slsrtc/emulator"
)

// template is a parsed CloudFormation/SAM template: plain Go values
// (map[string]any, []any, string, int, bool), with the short-form intrinsic
// tags in their long form (!Ref x is {Ref: x}, !GetAtt a.b is
// {Fn::GetAtt: [a, b]}, !Sub s is {Fn::Sub: s}).
type template struct {
	doc map[string]any
}

// resource is one entry of the template's Resources.
type resource struct {
	ID    string
	Type  string
	Props map[string]any
	Attrs map[string]any // the entry itself: DependsOn, DeletionPolicy, ...
}

func parseTemplate(b []byte) (*template, error) {
	doc, err := emulator.DecodeTemplate(b)
	if err != nil {
		return nil, err
	}
	return &template{doc: doc}, nil
}

// resources returns the resources of type typ, sorted by logical ID.
func (t *template) resources(typ string) []resource {
	var out []resource
	for id, v := range asMap(t.doc["Resources"]) {
		r := asMap(v)
		if r["Type"] == typ {
			out = append(out, resource{ID: id, Type: typ, Props: asMap(r["Properties"]), Attrs: r})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// resource returns the resource with logical ID id.
func (t *template) resource(id string) (resource, bool) {
	r, ok := asMap(t.doc["Resources"])[id].(map[string]any)
	if !ok {
		return resource{}, false
	}
	typ, _ := r["Type"].(string)
	return resource{ID: id, Type: typ, Props: asMap(r["Properties"]), Attrs: r}, true
}

// one returns the only resource of type typ, or an error.
func (t *template) one(typ string) (resource, error) {
	rs := t.resources(typ)
	if len(rs) != 1 {
		return resource{}, fmt.Errorf("found %d resources of type %s, want 1", len(rs), typ)
	}
	return rs[0], nil
}

// Placeholders for what only CloudFormation knows: the values resolve uses
// for pseudo parameters and for a Ref or GetAtt of a resource.
var pseudoParams = map[string]string{
	"AWS::Region":    "us-east-1",
	"AWS::AccountId": "123456789012",
	"AWS::Partition": "aws",
	"AWS::URLSuffix": "amazonaws.com",
	"AWS::StackName": "slsrtc",
}

// resolve evaluates v the way CloudFormation would with the parameters'
// defaults, standing in a lowercased logical ID for a resource's Ref and
// "arn-of-ID" for a GetAtt. It understands literals, Ref and Sub (string
// form), and If, of which it takes the branch that has a value (what the
// code must accept when the condition holds); anything else is an error.
func (t *template) resolve(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int, bool, float64:
		return fmt.Sprint(v), nil
	case map[string]any:
		if name, ok := v["Ref"].(string); ok {
			return t.resolveName(name)
		}
		if branches, ok := v["Fn::If"].([]any); ok && len(branches) == 3 {
			if ref, ok := branches[1].(map[string]any); ok && ref["Ref"] == "AWS::NoValue" {
				return t.resolve(branches[2])
			}
			return t.resolve(branches[1])
		}
		if s, ok := v["Fn::Sub"].(string); ok {
			var b strings.Builder
			for {
				i := strings.Index(s, "${")
				if i < 0 {
					b.WriteString(s)
					return b.String(), nil
				}
				j := strings.Index(s[i:], "}")
				if j < 0 {
					return "", fmt.Errorf("unterminated ${ in %q", s)
				}
				b.WriteString(s[:i])
				name := s[i+2 : i+j]
				if res, _, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
					b.WriteString("arn-of-" + res)
				} else {
					val, err := t.resolveName(name)
					if err != nil {
						return "", err
					}
					b.WriteString(val)
				}
				s = s[i+j+1:]
			}
		}
	}
	return "", fmt.Errorf("cannot resolve %v", v)
}

func (t *template) resolveName(name string) (string, error) {
	if v, ok := pseudoParams[name]; ok {
		return v, nil
	}
	if p, ok := asMap(t.doc["Parameters"])[name].(map[string]any); ok {
		def, ok := p["Default"]
		if !ok {
			return "", fmt.Errorf("parameter %s has no Default", name)
		}
		return fmt.Sprint(def), nil
	}
	if _, ok := t.resource(name); ok {
		return strings.ToLower(name), nil
	}
	return "", fmt.Errorf("%s is neither a parameter nor a resource", name)
}

// getAttOf returns the resource and attribute of {Fn::GetAtt: [id, attr]}.
func getAttOf(v any) (id, attr string, ok bool) {
	att, _ := asMap(v)["Fn::GetAtt"].([]any)
	if len(att) != 2 {
		return "", "", false
	}
	id, ok1 := att[0].(string)
	attr, ok2 := att[1].(string)
	return id, attr, ok1 && ok2
}

// stringList returns v as a list of strings: a string is a list of one, a list
// keeps its string elements.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// list returns v as a list: a list as is, anything else as a list of one.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// sorted returns a sorted copy of s without duplicates.
func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
