package emulator

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Template is what the local stack reads from the SAM/CloudFormation template, so
// that what runs locally is what deploys.
type Template struct {
	// RouteSelectionExpression of the WebSocket API.
	RouteSelectionExpression string
	// Routes are the route keys of the API's routes, sorted.
	Routes []string
	// RouteResponses marks the routes that have a route response (two-way routes).
	RouteResponses map[string]bool
	// StageName is the stage's StageName: a literal, or the Default of the parameter
	// it refers to.
	StageName string
	// FunctionName is the logical ID of the function behind the routes.
	FunctionName string
	// FunctionTimeout is that function's Timeout: its own, else the template's
	// Globals.Function.Timeout, else Lambda's default of 3 seconds.
	FunctionTimeout time.Duration
}

// defaultFunctionTimeout is Lambda's (and SAM's) default function Timeout.
const defaultFunctionTimeout = 3 * time.Second

// Resource types the template reader looks at.
const (
	typeAPI           = "AWS::ApiGatewayV2::Api"
	typeRoute         = "AWS::ApiGatewayV2::Route"
	typeRouteResponse = "AWS::ApiGatewayV2::RouteResponse"
	typeStage         = "AWS::ApiGatewayV2::Stage"
	typeIntegration   = "AWS::ApiGatewayV2::Integration"
	typeSAMFunction   = "AWS::Serverless::Function"
	typeFunction      = "AWS::Lambda::Function"
)

// ReadTemplate reads the WebSocket API of a CloudFormation or SAM template: the one
// AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET, its routes, route responses and
// stage, and the function its integration targets. It understands the short-form
// intrinsic function tags (!Ref, !Sub, !GetAtt, ...). It returns an error when the
// file cannot be read or parsed, or when the template has no single WebSocket API,
// stage or function.
func ReadTemplate(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	doc, err := DecodeTemplate(b)
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", path, err)
	}
	t, err := readTemplate(doc)
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", path, err)
	}
	return t, nil
}

// resource is one entry of the template's Resources.
type resource struct {
	id    string
	typ   string
	props map[string]any
}

func readTemplate(doc map[string]any) (*Template, error) {
	if doc == nil {
		return nil, errors.New("not a YAML mapping")
	}
	var resources []resource
	for id, v := range asMap(doc["Resources"]) {
		r := asMap(v)
		typ, _ := r["Type"].(string)
		resources = append(resources, resource{id: id, typ: typ, props: asMap(r["Properties"])})
	}
	slices.SortFunc(resources, func(a, b resource) int { return strings.Compare(a.id, b.id) })
	byType := func(typ string) []resource {
		var out []resource
		for _, r := range resources {
			if r.typ == typ {
				out = append(out, r)
			}
		}
		return out
	}

	var apis []resource
	for _, r := range byType(typeAPI) {
		if p, _ := r.props["ProtocolType"].(string); p == "WEBSOCKET" {
			apis = append(apis, r)
		}
	}
	if len(apis) != 1 {
		return nil, fmt.Errorf("found %d WebSocket APIs (%s with ProtocolType WEBSOCKET), want 1", len(apis), typeAPI)
	}
	api := apis[0]
	t := &Template{RouteResponses: map[string]bool{}}
	t.RouteSelectionExpression, _ = api.props["RouteSelectionExpression"].(string)
	if t.RouteSelectionExpression == "" {
		return nil, fmt.Errorf("WebSocket API %s has no RouteSelectionExpression", api.id)
	}

	routeKeys := map[string]string{} // route logical ID → route key
	for _, r := range byType(typeRoute) {
		if !RefersTo(r.props["ApiId"], api.id) {
			continue
		}
		key, _ := r.props["RouteKey"].(string)
		if key == "" {
			return nil, fmt.Errorf("route %s has no RouteKey", r.id)
		}
		routeKeys[r.id] = key
		t.Routes = append(t.Routes, key)
	}
	slices.Sort(t.Routes)
	for _, r := range byType(typeRouteResponse) {
		if !RefersTo(r.props["ApiId"], api.id) {
			continue
		}
		ref, _ := asMap(r.props["RouteId"])["Ref"].(string)
		key, ok := routeKeys[ref]
		if !ok {
			return nil, fmt.Errorf("route response %s: RouteId is not a !Ref to a route of %s", r.id, api.id)
		}
		t.RouteResponses[key] = true
	}

	stageName, err := readStageName(doc, byType(typeStage), api.id)
	if err != nil {
		return nil, err
	}
	t.StageName = stageName

	fn, err := readFunction(append(byType(typeSAMFunction), byType(typeFunction)...), byType(typeIntegration), api.id)
	if err != nil {
		return nil, err
	}
	t.FunctionName = fn.id
	if t.FunctionTimeout, err = readFunctionTimeout(doc, fn); err != nil {
		return nil, err
	}
	return t, nil
}

// readStageName returns the StageName of the API's stage: a literal, or the Default of
// the parameter it refers to. Without a stage it falls back to a StageName parameter.
func readStageName(doc map[string]any, stages []resource, apiID string) (string, error) {
	var mine []resource
	for _, s := range stages {
		if RefersTo(s.props["ApiId"], apiID) {
			mine = append(mine, s)
		}
	}
	var name any = map[string]any{"Ref": "StageName"}
	switch len(mine) {
	case 0:
	case 1:
		name = mine[0].props["StageName"]
	default:
		return "", fmt.Errorf("found %d stages of %s, want 1", len(mine), apiID)
	}
	if s, ok := name.(string); ok && s != "" {
		return s, nil
	}
	if param, ok := asMap(name)["Ref"].(string); ok {
		if def, ok := asMap(asMap(doc["Parameters"])[param])["Default"].(string); ok && def != "" {
			return def, nil
		}
		return "", fmt.Errorf("stage name parameter %s has no Default", param)
	}
	return "", errors.New("no stage name: want a literal StageName or a !Ref to a parameter with a Default")
}

// readFunction returns the function behind the API: the only function of the
// template, or the one the API's integrations refer to.
func readFunction(functions, integrations []resource, apiID string) (resource, error) {
	if len(functions) == 1 {
		return functions[0], nil
	}
	var found []resource
	for _, fn := range functions {
		for _, in := range integrations {
			if RefersTo(in.props["ApiId"], apiID) && mentions(in.props["IntegrationUri"], fn.id) {
				found = append(found, fn)
				break
			}
		}
	}
	if len(found) != 1 {
		return resource{}, fmt.Errorf("found %d functions behind the WebSocket API among %d, want 1", len(found), len(functions))
	}
	return found[0], nil
}

// readFunctionTimeout returns the function's Timeout in seconds: its own
// property, else (for a SAM function) Globals.Function.Timeout, else Lambda's
// default. A Timeout may be a number, a numeric string or a !Ref to a
// parameter with a numeric Default.
func readFunctionTimeout(doc map[string]any, fn resource) (time.Duration, error) {
	v, ok := fn.props["Timeout"]
	if !ok && fn.typ == typeSAMFunction {
		v, ok = asMap(asMap(doc["Globals"])["Function"])["Timeout"]
	}
	if !ok {
		return defaultFunctionTimeout, nil
	}
	if param, isRef := asMap(v)["Ref"].(string); isRef {
		if v, ok = asMap(asMap(doc["Parameters"])[param])["Default"]; !ok {
			return 0, fmt.Errorf("function %s: Timeout parameter %s has no Default", fn.id, param)
		}
	}
	var seconds int
	switch v := v.(type) {
	case int:
		seconds = v
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("function %s: Timeout %q is not a number of seconds", fn.id, v)
		}
		seconds = n
	default:
		return 0, fmt.Errorf("function %s: Timeout %v is not a number of seconds", fn.id, v)
	}
	if seconds < 1 || seconds > 900 {
		return 0, fmt.Errorf("function %s: Timeout %d is outside Lambda's 1 to 900 seconds", fn.id, seconds)
	}
	return time.Duration(seconds) * time.Second, nil
}

// RefersTo reports whether v, a value of a template decoded by
// DecodeTemplate, is {Ref: id} or {Fn::GetAtt: [id, ...]}.
func RefersTo(v any, id string) bool {
	m := asMap(v)
	if ref, ok := m["Ref"].(string); ok {
		return ref == id
	}
	if att, ok := m["Fn::GetAtt"].([]any); ok && len(att) > 0 {
		return att[0] == id
	}
	return false
}

// mentions reports whether v refers to the resource id anywhere: a Ref, a GetAtt, or
// a ${id} or ${id.Attr} inside a Sub string.
func mentions(v any, id string) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, "${"+id+"}") || strings.Contains(v, "${"+id+".")
	case []any:
		return slices.ContainsFunc(v, func(e any) bool { return mentions(e, id) })
	case map[string]any:
		if RefersTo(v, id) {
			return true
		}
		for _, e := range v {
			if mentions(e, id) {
				return true
			}
		}
	}
	return false
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// DecodeTemplate parses a CloudFormation or SAM template in YAML into plain
// Go values (maps, slices, scalars), with the short-form intrinsic function
// tags in their long form (see nodeValue). It returns an error unless the
// document is a YAML mapping.
func DecodeTemplate(b []byte) (map[string]any, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	doc, ok := nodeValue(&root).(map[string]any)
	if !ok {
		return nil, errors.New("the template is not a YAML mapping")
	}
	return doc, nil
}

// nodeValue converts a YAML node to plain Go values, turning CloudFormation's
// short-form tags into their long form: !Ref x → {Ref: x}, !GetAtt a.b →
// {Fn::GetAtt: [a, b]}, !Sub, !Join, ... → {Fn::Sub: ...}, {Fn::Join: ...}.
func nodeValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return nodeValue(n.Content[0])
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = nodeValue(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			s = append(s, nodeValue(c))
		}
		v = s
	case yaml.ScalarNode:
		if isIntrinsicTag(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			v = n.Value
		}
	}
	if !isIntrinsicTag(n.Tag) {
		return v
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: v}
}

// isIntrinsicTag reports whether tag is a CloudFormation short form like !Ref, as
// opposed to a YAML core tag like !!str.
func isIntrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}
