package testkit

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// update is the one -update flag of the project's tests: go test -update
// rewrites every golden file a test compares with.
var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Updating reports whether the tests run under -update: a test that keeps a
// generated part of a file (a block of a document, say) rewrites it then.
func Updating() bool { return *update }

// Golden compares got with the file at path (under testdata/), and rewrites
// the file instead under go test -update. A difference fails the test with
// both versions and the first line that differs.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)%s\n--- got\n%s\n--- want\n%s",
			path, firstDiff(string(got), string(want)), got, want)
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "\nfirst difference, line " + strconv.Itoa(i+1) + ":\n  got:  " + gl + "\n  want: " + wl
		}
	}
	return ""
}
