package auth_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/auth"
)

func TestParseSecrets(t *testing.T) {
	c, p := string(current), string(previous)
	for _, tc := range []struct {
		name string
		in   string
		want [][]byte
	}{
		{"current only", `{"current":"` + c + `"}`, [][]byte{current}},
		{"current and previous", `{"current":"` + c + `","previous":"` + p + `"}`, [][]byte{current, previous}},
		{"previous first in the object", `{"previous":"` + p + `","current":"` + c + `"}`, [][]byte{current, previous}},
		{"previous empty", `{"current":"` + c + `","previous":""}`, [][]byte{current}},
		{"previous null", `{"current":"` + c + `","previous":null}`, [][]byte{current}},
		{"previous the same as current", `{"current":"` + c + `","previous":"` + c + `"}`, [][]byte{current}},
		{"surrounding white space", " \n{ \"current\" : \"" + c + "\" }\n", [][]byte{current}},
		{"JSON escapes are decoded", `{"current":"\u0041` + c[1:] + `"}`, [][]byte{[]byte("A" + c[1:])}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.ParseSecrets(tc.in)
			if err != nil {
				t.Fatalf("ParseSecrets: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseSecrets = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseSecretsRefuses(t *testing.T) {
	c, p := string(current), string(previous)
	short := c[:auth.MinSecretLength-1]
	for _, tc := range []struct {
		name  string
		in    string
		short bool
	}{
		{"empty", "", false},
		{"a bare secret, not JSON", c, false},
		{"a JSON string", `"` + c + `"`, false},
		{"null", `null`, false},
		{"a list", `["` + c + `"]`, false},
		{"no current", `{"previous":"` + p + `"}`, false},
		{"current empty", `{"current":""}`, false},
		{"current a number", `{"current":12345678901234567890123456789012345}`, false},
		{"a misspelt key", `{"current":"` + c + `","previos":"` + p + `"}`, false},
		{"a key in another case", `{"Current":"` + c + `"}`, false},
		{"trailing data", `{"current":"` + c + `"} {"current":"` + c + `"}`, false},
		{"truncated", `{"current":"` + c, false},
		{"current short", `{"current":"` + short + `"}`, true},
		{"previous short", `{"current":"` + c + `","previous":"` + short + `"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.ParseSecrets(tc.in)
			if err == nil {
				t.Fatalf("ParseSecrets = %q, want an error", got)
			}
			if errors.Is(err, auth.ErrShortSecret) != tc.short {
				t.Errorf("ParseSecrets: %v; wraps ErrShortSecret: %v, want %v", err, !tc.short, tc.short)
			}
			for _, secret := range []string{c[len(c)-12:], p[len(p)-12:], short[len(short)-12:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes a secret", err)
				}
			}
		})
	}
}
