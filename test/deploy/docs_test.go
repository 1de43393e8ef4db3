package deploy

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// deployDocPath is the page that documents the template's parameters and the
// function's environment.
var deployDocPath = filepath.Join("..", "..", "docs", "deploy.md")

// checkDocumented checks docs/deploy.md (doc) against the template: its
// parameter table has one row per parameter, with the template's default
// ("empty" for ""), and none for a parameter the template lacks; its
// environment table has a row for every variable the function's environment
// sets (a cell may name several, and rows "set by Lambda" are Lambda's).
func checkDocumented(t *template, doc string) []string {
	var problems []string
	params := asMap(t.doc["Parameters"])
	rows := tableRows(doc, "| parameter | default |")
	if rows == nil {
		return []string{"docs/deploy.md has no table | parameter | default |"}
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		row, ok := rows[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("docs/deploy.md does not document the parameter %s", name))
			continue
		}
		def, err := t.resolve(asMap(params[name])["Default"])
		if err != nil {
			def = "" // no default: shown as empty
		}
		want := "`" + def + "`"
		if def == "" {
			want = "empty"
		}
		if row[1] != want {
			problems = append(problems, fmt.Sprintf("docs/deploy.md gives the parameter %s the default %s, the template %s", name, row[1], want))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		if _, ok := params[name]; !ok {
			problems = append(problems, fmt.Sprintf("docs/deploy.md documents a parameter %s the template does not have", name))
		}
	}

	fn, err := t.one(typeFunction)
	if err != nil {
		return append(problems, err.Error())
	}
	env := tableRows(doc, "| variable | set to |")
	if env == nil {
		return append(problems, "docs/deploy.md has no table | variable | set to |")
	}
	for _, name := range slices.Sorted(maps.Keys(asMap(asMap(fn.Props["Environment"])["Variables"]))) {
		if _, ok := env[name]; !ok {
			problems = append(problems, fmt.Sprintf("docs/deploy.md does not document the environment variable %s", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(env)) {
		_, set := asMap(asMap(fn.Props["Environment"])["Variables"])[name]
		if !set && !strings.Contains(env[name][1], "set by Lambda") {
			problems = append(problems, fmt.Sprintf("docs/deploy.md documents an environment variable %s the template does not set", name))
		}
	}
	return problems
}

// tableRows returns the rows of the Markdown table whose header line starts
// with header, keyed by each `name` of their first cell, as their cells; nil
// when there is no such table.
func tableRows(doc, header string) map[string][]string {
	_, rest, ok := strings.Cut(doc, "\n"+header)
	if !ok {
		return nil
	}
	rows := map[string][]string{}
	lines := strings.Split(rest, "\n")[2:] // the header's end and the delimiter row
	for _, line := range lines {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		for _, name := range strings.Split(cells[0], ", ") {
			rows[strings.Trim(name, "`")] = cells
		}
	}
	return rows
}

// readDeployDoc returns docs/deploy.md.
func readDeployDoc() (string, error) {
	b, err := os.ReadFile(deployDocPath)
	return string(b), err
}
