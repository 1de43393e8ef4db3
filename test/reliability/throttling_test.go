package reliability_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestThrottlingDocumented: the stage throttles every route with the
// template's ThrottlingBurstLimit and ThrottlingRateLimit parameters, and
// docs/reliability.md states their defaults as the template has them.
func TestThrottlingDocumented(t *testing.T) {
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	docs, err := os.ReadFile("../../docs/reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	settings := stageRouteSettings(root)
	if settings == nil {
		t.Fatal("no AWS::ApiGatewayV2::Stage with DefaultRouteSettings in template.yaml")
	}
	for _, param := range []string{"ThrottlingBurstLimit", "ThrottlingRateLimit"} {
		ref := lookup(settings, param)
		if ref == nil || ref.Tag != "!Ref" || ref.Value != param {
			t.Errorf("DefaultRouteSettings.%s is not !Ref %s", param, param)
		}
		def := lookup(root, "Parameters", param, "Default")
		if def == nil {
			t.Errorf("parameter %s has no default", param)
			continue
		}
		if want := fmt.Sprintf("`%s`, default %s", param, def.Value); !strings.Contains(string(docs), want) {
			t.Errorf("docs/reliability.md does not say %q", want)
		}
	}
}

// stageRouteSettings returns the DefaultRouteSettings of the template's
// WebSocket stage.
func stageRouteSettings(root *yaml.Node) *yaml.Node {
	resources := lookup(root, "Resources")
	if resources == nil {
		return nil
	}
	for i := 1; i < len(resources.Content); i += 2 {
		r := resources.Content[i]
		if typ := lookup(r, "Type"); typ != nil && typ.Value == "AWS::ApiGatewayV2::Stage" {
			return lookup(r, "Properties", "DefaultRouteSettings")
		}
	}
	return nil
}

// lookup follows mapping keys from n; nil if one is missing.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}
