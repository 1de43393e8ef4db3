package cmdline

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		done     bool
		contains string
	}{
		{"flags", []string{"-n", "3"}, 0, false, ""},
		{"help", []string{"-h"}, 0, true, "usage: cmd\n  -n int"},
		{"bad flag", []string{"-nope"}, 2, true, "cmd: flag provided but not defined: -nope (see -h)"},
		{"argument", []string{"serve"}, 2, true, `cmd: unexpected argument "serve" (see -h)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			n := fs.Int("n", 0, "a number")
			var stderr bytes.Buffer
			code, done := Parse(fs, tt.args, "usage: cmd\n", &stderr)
			if code != tt.code || done != tt.done || !strings.Contains(stderr.String(), tt.contains) {
				t.Errorf("Parse = %d, %v, stderr %q; want %d, %v, with %q", code, done, stderr.String(), tt.code, tt.done, tt.contains)
			}
			if !done && *n != 3 {
				t.Errorf("-n = %d, want 3", *n)
			}
		})
	}
}
