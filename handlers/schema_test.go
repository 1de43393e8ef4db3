package handlers

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestProtocolDocs keeps docs/protocol.md and docs/protocol.schema.json true:
// every JSON example in the doc and every golden frame validates against the
// schema, every client example parses, the doc's list of actions is the
// action table's, and the schema's error codes are the router's.
func TestProtocolDocs(t *testing.T) {
	c := jsonschema.NewCompiler()
	schema, err := c.Compile("../docs/protocol.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T, where, line string) {
		t.Helper()
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("%s: %s does not match the schema: %v", where, line, err)
		}
	}

	f, err := os.Open("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	examples, inJSON, actions := 0, false, ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "Actions: ") {
			actions = line
		}
		switch {
		case line == "```json":
			inJSON = true
		case line == "```":
			inJSON = false
		case inJSON:
			where := "protocol.md:" + strconv.Itoa(n)
			validate(t, where, line)
			examples++
			if strings.HasPrefix(line, `{"action"`) {
				if _, err := ParseMessage([]byte(line)); err != nil {
					t.Errorf("%s: client example refused: %v", where, err)
				}
			}
		}
	}
	if actions == "" {
		t.Error(`protocol.md has no "Actions: ..." line`)
	} else if want := "Actions: `" + strings.Join(Actions(), "`, `") + "`."; actions != want {
		t.Errorf("protocol.md lists\n  %s\nthe action table is\n  %s", actions, want)
	}
	if examples < 15 {
		t.Errorf("found %d JSON examples in protocol.md; the scanner is broken", examples)
	}

	golden, _ := filepath.Glob("testdata/frames/*.json")
	for _, path := range golden {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, path, strings.TrimSpace(string(data)))
	}

	// A frame that breaks the schema is caught (the check can fail).
	if v, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"type":"enter","roomID":"lobby","connectionID":"A","participantID":"p-A"}`)); schema.Validate(v) == nil {
		t.Error("the schema accepts an enter frame with a malformed room ID")
	}

	var doc struct {
		Defs struct {
			Error struct {
				Properties struct {
					Code struct {
						Enum []string `json:"enum"`
					} `json:"code"`
				} `json:"properties"`
			} `json:"error"`
		} `json:"$defs"`
	}
	raw, _ := os.ReadFile("../docs/protocol.schema.json")
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, c := range errorCodes {
		codes = append(codes, c.code)
	}
	sort.Strings(codes)
	schemaCodes := slices.Sorted(slices.Values(doc.Defs.Error.Properties.Code.Enum))
	if !slices.Equal(codes, schemaCodes) {
		t.Errorf("schema error codes %q, router's %q", schemaCodes, codes)
	}
}
