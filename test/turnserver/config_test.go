package turnserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfig: the configuration file keeps coturn on loopback, with TURN REST
// API credentials and one static-auth-secret line per secret, and with files
// of its own rather than the machine's.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	s := &Server{Port: 40000, Realm: "r.test"}
	got := string(config(s, dir, Options{Secrets: [][]byte{[]byte("new # secret"), []byte("old=secret")}}))
	for _, want := range []string{
		"listening-ip=127.0.0.1\n", "relay-ip=127.0.0.1\n", "listening-port=40000\n", "realm=r.test\n",
		"use-auth-secret\n", "static-auth-secret=new # secret\nstatic-auth-secret=old=secret\n",
		"allow-loopback-peers\n", "no-cli\n", "no-tls\n", "no-dtls\n",
		"db=" + filepath.Join(dir, "turndb") + "\n", "pidfile=" + filepath.Join(dir, "turnserver.pid") + "\n",
		"log-file=stdout\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("configuration lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "verbose") {
		t.Errorf("verbose without Options.Verbose:\n%s", got)
	}
	inDB := string(config(s, dir, Options{Secrets: [][]byte{[]byte("secret")}, SecretsInDB: true}))
	if strings.Contains(inDB, "static-auth-secret") || !strings.Contains(inDB, "use-auth-secret\n") {
		t.Errorf("with SecretsInDB, the configuration has static-auth-secret lines or no use-auth-secret:\n%s", inDB)
	}
}

// TestSQLString: a secret with quotes is one SQL literal.
func TestSQLString(t *testing.T) {
	if got, want := sqlString(`it's "x"'`), `'it''s "x"'''`; got != want {
		t.Errorf("sqlString = %s, want %s", got, want)
	}
}

// TestBinaryMissing: without turnserver, the error says how to install it.
func TestBinaryMissing(t *testing.T) {
	t.Setenv(EnvBinary, "")
	t.Setenv("PATH", t.TempDir())
	_, err := binary()
	if err == nil || !strings.Contains(err.Error(), "scripts/ensure-coturn.sh") || !strings.Contains(err.Error(), "apt-get install coturn") {
		t.Errorf("binary() error %v, want one that says how to install coturn", err)
	}
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "nothing"))
	if _, err := binary(); err == nil || !strings.Contains(err.Error(), EnvBinary) {
		t.Errorf("binary() with %s pointing nowhere: %v", EnvBinary, err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBinary, self)
	if got, err := binary(); err != nil || got != self {
		t.Errorf("binary() = %q, %v; want %q", got, err, self)
	}
}
