package secretsource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from the file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SECRETSOURCE_TEST", "from the environment")
	for _, tt := range []struct {
		name, file, env, want, wantErr string
	}{
		{"file first", file, "SECRETSOURCE_TEST", "from the file\n", ""},
		{"environment", "", "SECRETSOURCE_TEST", "from the environment", ""},
		{"missing file", filepath.Join(t.TempDir(), "none"), "SECRETSOURCE_TEST", "", "secret file:"},
		{"unset variable", "", "SECRETSOURCE_UNSET", "", "SECRETSOURCE_UNSET is not set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.file, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Read = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Read = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
