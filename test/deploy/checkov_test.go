package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// `make checkov` scans template.yaml with checkov and fails on any failed
// check. A check that does not apply is skipped in the resource's own
// Metadata, which checkov honours:
//
//	Metadata:
//	  checkov:
//	    skip:
//	      - id: CKV_AWS_117
//	        comment: No VPC, because ...
//
// These tests hold every skip to that form, with its reason.

// checkovID is the form of a checkov check ID (CKV_AWS_117, CKV2_AWS_5).
var checkovID = regexp.MustCompile(`^CKV2?_AWS_[0-9]+$`)

// maxSkipReason bounds a skip's comment: one line, read in checkov's output.
const maxSkipReason = 200

// checkovSkips checks the template's checkov skips: each names one check by
// its ID, at most once per resource, and says why in a comment of one line.
func checkovSkips(t *template) []string {
	var problems []string
	resources := asMap(t.doc["Resources"])
	for _, id := range sortedKeys(resources) {
		checkov, ok := asMap(asMap(resources[id])["Metadata"])["checkov"]
		if !ok {
			continue
		}
		skips, ok := asMap(checkov)["skip"].([]any)
		if !ok || len(skips) == 0 {
			problems = append(problems, fmt.Sprintf("resource %s: Metadata.checkov is %v, want skip: a list of {id, comment}", id, checkov))
			continue
		}
		var seen []string
		for i, s := range skips {
			skip := asMap(s)
			check, _ := skip["id"].(string)
			reason, _ := skip["comment"].(string)
			switch {
			case !checkovID.MatchString(check):
				problems = append(problems, fmt.Sprintf("resource %s: skip %d has id %v, want a checkov check ID such as CKV_AWS_117", id, i, skip["id"]))
				continue
			case slices.Contains(seen, check):
				problems = append(problems, fmt.Sprintf("resource %s skips %s twice", id, check))
			}
			seen = append(seen, check)
			switch reason = strings.TrimSpace(reason); {
			case reason == "":
				problems = append(problems, fmt.Sprintf("resource %s skips %s without a reason (comment)", id, check))
			case strings.Contains(reason, "\n"):
				problems = append(problems, fmt.Sprintf("resource %s skips %s with a reason over more than one line; want one line", id, check))
			case len(reason) > maxSkipReason:
				problems = append(problems, fmt.Sprintf("resource %s skips %s with a reason of %d characters; want at most %d", id, check, len(reason), maxSkipReason))
			}
		}
	}
	return problems
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Every checkov skip of template.yaml names its check and says why.
func TestCheckovSkips(t *testing.T) {
	tpl := readTemplate(t, templatePath)
	for _, p := range checkovSkips(tpl) {
		t.Error(p)
	}
}

// The skip check objects to each way a skip can lack its check or reason.
func TestCheckovSkipsCatch(t *testing.T) {
	long := strings.Repeat("Because. ", 25)
	tests := []struct {
		name     string
		metadata string // the resource's Metadata, indented for it
		want     string // part of one problem; "" for none
	}{
		{"a reasoned skip", "checkov:\n  skip:\n    - id: CKV_AWS_117\n      comment: No VPC, no private resource.", ""},
		{"a CKV2 check", "checkov:\n  skip:\n    - id: CKV2_AWS_5\n      comment: Attached by the instance.", ""},
		{"no reason", "checkov:\n  skip:\n    - id: CKV_AWS_117", "skips CKV_AWS_117 without a reason"},
		{"blank reason", "checkov:\n  skip:\n    - id: CKV_AWS_117\n      comment: \"  \"", "skips CKV_AWS_117 without a reason"},
		{"no id", "checkov:\n  skip:\n    - comment: Because.", "skip 0 has id <nil>"},
		{"not a check ID", "checkov:\n  skip:\n    - id: no-vpc\n      comment: Because.", "skip 0 has id no-vpc"},
		{"twice", "checkov:\n  skip:\n    - id: CKV_AWS_27\n      comment: Because.\n    - id: CKV_AWS_27\n      comment: Again.", "skips CKV_AWS_27 twice"},
		{"more than one line", "checkov:\n  skip:\n    - id: CKV_AWS_27\n      comment: |\n        Because,\n        and because.", "over more than one line"},
		{"too long", "checkov:\n  skip:\n    - id: CKV_AWS_27\n      comment: " + long, "with a reason of 224 characters"},
		{"skip not a list", "checkov:\n  skip: CKV_AWS_27", "want skip: a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Metadata:\n" +
				"      " + strings.ReplaceAll(tt.metadata, "\n", "\n      ") + "\n"
			tpl, err := parseTemplate([]byte(doc))
			if err != nil {
				t.Fatalf("parse:\n%s\n%v", doc, err)
			}
			problems := checkovSkips(tpl)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("checkovSkips = %q, want none", problems)
			case tt.want != "" && !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }):
				t.Errorf("checkovSkips = %q, want a problem containing %q", problems, tt.want)
			}
		})
	}
}
