// Package turnserver starts a real coturn (turnserver) on loopback for a
// test, configured as a deployed one is for slsrtc (docs/turn.md): TURN REST
// API credentials (use-auth-secret) with one or more static-auth-secret, a
// realm, no TLS. Each server gets its own ephemeral port, configuration file
// and SQLite database in the test's temporary directory, so that nothing of
// the machine's coturn (/etc/turnserver.conf, /var/lib/turn/turndb) is read
// and tests can run in parallel.
//
// Start fails the test when turnserver is not installed, saying how to
// install it: scripts/ensure-coturn.sh (make test-e2e runs it). The tests of
// this module that start one carry the build tag e2e, so that a plain
// go test ./... does not need coturn.
//
// Environment:
//
//	SLSRTC_TURNSERVER=PATH  the turnserver binary (default: turnserver on PATH)
package turnserver

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// EnvBinary names the turnserver binary to run instead of the one on PATH.
const EnvBinary = "SLSRTC_TURNSERVER"

// Host is the address every server listens and relays on.
const Host = "127.0.0.1"

const (
	// startAttempts bounds the ports tried when another process takes the
	// chosen one between the check and coturn's bind.
	startAttempts = 5
	// readyTimeout bounds the wait for one attempt to answer the probe.
	readyTimeout = 15 * time.Second
	// probeTimeout is how long one probe waits for its answer before it is
	// sent again: UDP may lose it, and coturn answers nothing until its
	// listeners are up.
	probeTimeout = 100 * time.Millisecond
)

// Options configure a server.
type Options struct {
	// Secrets are its shared secrets, at least one: every credential signed
	// with any of them is accepted (coturn checks each in turn), as during a
	// rotation. They are static-auth-secret lines of its configuration,
	// which coturn reads when it starts only (SIGHUP does not reload them).
	Secrets [][]byte
	// SecretsInDB puts Secrets in the turn_secret table of the server's
	// SQLite database instead, which coturn reads on every authentication:
	// AddSecret and RemoveSecret then change them while it runs. It needs
	// the sqlite3 command (which Debian's coturn depends on).
	SecretsInDB bool
	// Realm is its realm; default a new one per server, which the readiness
	// probe uses to tell this server from any other on the port.
	Realm string
	// Verbose turns on coturn's verbose log (every session and its
	// allocations) in the test log.
	Verbose bool
}

// A Server is a running turnserver, stopped when its test ends.
type Server struct {
	// Port is its UDP and TCP listening port on Host.
	Port int
	// Realm is its realm.
	Realm string

	db string // its SQLite database, when Options.SecretsInDB
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort(Host, strconv.Itoa(s.Port)) }

// TURNURL returns the server's turn: URL with the given transport ("udp",
// "tcp", or "" for none).
func (s *Server) TURNURL(transport string) string {
	u := "turn:" + s.Addr()
	if transport != "" {
		u += "?transport=" + transport
	}
	return u
}

// STUNURL returns the server's stun: URL (coturn answers STUN on its TURN
// port).
func (s *Server) STUNURL() string { return "stun:" + s.Addr() }

// Binary returns the turnserver binary the tests run: $SLSRTC_TURNSERVER, or
// turnserver on PATH. It fails the test, saying how to install coturn, when
// there is none.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := binary()
	if err != nil {
		t.Fatalf("turnserver: %v", err)
	}
	return path
}

func binary() (string, error) {
	if path := os.Getenv(EnvBinary); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, path, err)
		}
		return path, nil
	}
	path, err := exec.LookPath("turnserver")
	if err != nil {
		return "", errors.New("coturn's turnserver is not on PATH: run scripts/ensure-coturn.sh " +
			"(make test-e2e does; on Debian it is apt-get install coturn), or set " + EnvBinary + " to a turnserver binary")
	}
	return path, nil
}

// Start starts a turnserver on a free port of Host and returns once it
// answers TURN requests there; it is killed when the test ends, and its log
// goes to the test log. A port another process takes first is given up for
// another, up to startAttempts times. Start fails the test if coturn is
// missing, opts has no secret or one with a NUL or a line break, or the
// server does not come up.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	if len(opts.Secrets) == 0 {
		t.Fatal("turnserver: Options.Secrets is empty: coturn would run without authentication")
	}
	for _, secret := range opts.Secrets {
		if bytes.ContainsAny(secret, "\x00\r\n") {
			t.Fatal("turnserver: a secret has a NUL or a line break, which a configuration line cannot hold")
		}
	}
	if opts.Realm == "" {
		opts.Realm = "slsrtc-" + randomHex(6) + ".test"
	}
	dir := t.TempDir()
	var errs []error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("turnserver: %v", err)
		}
		s := &Server{Port: port, Realm: opts.Realm}
		err = s.start(t, bin, filepath.Join(dir, strconv.Itoa(attempt)), opts)
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) {
			t.Fatalf("turnserver: %v", err)
		}
		errs = append(errs, err)
	}
	t.Fatalf("turnserver: no free port in %d attempts: %v", startAttempts, errors.Join(errs...))
	return nil
}

// errPortTaken: coturn could not bind its port, or another server answers
// there: another process took it after freePort checked it.
var errPortTaken = errors.New("port taken")

// start runs one attempt on s.Port with its files in dir. On success the
// process is left running, to be killed at the test's cleanup.
func (s *Server) start(t testing.TB, bin, dir string, opts Options) error {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if opts.SecretsInDB {
		s.db = filepath.Join(dir, "turndb")
		for _, secret := range opts.Secrets {
			if err := s.sql(secretTable + insertSecret(s.Realm, secret)); err != nil {
				return err
			}
		}
	}
	conf := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(conf, config(s, dir, opts), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Dir = dir
	cmd.SysProcAttr = killWithParent()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	// The log: every line to the test log, and "Cannot bind" reported.
	bindFailed := make(chan struct{})
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		failed := false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			t.Logf("turnserver :%d: %s", s.Port, line)
			if !failed && strings.Contains(line, "Cannot bind") {
				failed = true
				close(bindFailed)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	exited := make(chan error, 1)
	go func() {
		<-logged // Wait closes the pipe: read it to the end first
		exited <- cmd.Wait()
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	ready := make(chan error, 1)
	done := make(chan struct{})
	go func() { ready <- s.probe(opts.Realm, done) }()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	var failure error
	select {
	case failure = <-ready:
		if failure == nil {
			t.Cleanup(stop)
			return nil
		}
	case <-bindFailed:
		failure = fmt.Errorf("port %d: %w", s.Port, errPortTaken)
	case err := <-exited:
		failure = fmt.Errorf("turnserver exited before it was ready: %v (its log is above)", err)
		exited <- err
	case <-timer.C:
		failure = fmt.Errorf("turnserver did not answer on port %d within %v (its log is above)", s.Port, readyTimeout)
	}
	close(done)
	stop()
	return failure
}

// config returns the configuration file for s: loopback only, TURN REST API
// credentials with opts' secrets, no TLS, no CLI, a database of its own, the
// log on standard output.
func config(s *Server, dir string, opts Options) []byte {
	var b bytes.Buffer
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Written by slsrtc's test/turnserver for one test.")
	line("listening-ip=%s", Host)
	line("relay-ip=%s", Host)
	line("listening-port=%d", s.Port)
	line("realm=%s", s.Realm)
	line("use-auth-secret")
	if !opts.SecretsInDB {
		for _, secret := range opts.Secrets {
			line("static-auth-secret=%s", secret)
		}
	}
	// Peers are on loopback too; coturn refuses them unless told.
	line("allow-loopback-peers")
	line("no-cli")
	line("no-tls")
	line("no-dtls")
	// RFC 5780 would listen on a second port too.
	line("no-rfc5780")
	// Its own database and pid file, not the machine's.
	line("db=%s", filepath.Join(dir, "turndb"))
	line("pidfile=%s", filepath.Join(dir, "turnserver.pid"))
	line("log-file=stdout")
	line("simple-log")
	if opts.Verbose {
		line("verbose")
	}
	return b.Bytes()
}

// secretTable is the turn_secret table as coturn's schema has it
// (/usr/share/coturn/schema.sql), for a database coturn has not created
// yet; coturn creates the other tables when it opens it.
const secretTable = `CREATE TABLE IF NOT EXISTS turn_secret (
	realm varchar(127) default '',
	value varchar(256),
	primary key (realm,value)
);
`

// insertSecret is the SQL that adds secret for realm, what
// turnadmin --set-secret does.
func insertSecret(realm string, secret []byte) string {
	return fmt.Sprintf("INSERT OR IGNORE INTO turn_secret (realm, value) VALUES (%s, %s);\n", sqlString(realm), sqlString(string(secret)))
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// AddSecret adds secret to the server's secrets while it runs: credentials
// signed with it are accepted from now on. The server must have been started
// with Options.SecretsInDB.
func (s *Server) AddSecret(t testing.TB, secret []byte) {
	t.Helper()
	if err := s.sql(insertSecret(s.Realm, secret)); err != nil {
		t.Fatalf("turnserver: add a secret: %v", err)
	}
}

// RemoveSecret removes secret from the server's secrets while it runs, as
// turnadmin --delete-secret does: new allocations with credentials signed
// with it are refused from now on. The server must have been started with
// Options.SecretsInDB.
func (s *Server) RemoveSecret(t testing.TB, secret []byte) {
	t.Helper()
	q := fmt.Sprintf("DELETE FROM turn_secret WHERE realm = %s AND value = %s;\n", sqlString(s.Realm), sqlString(string(secret)))
	if err := s.sql(q); err != nil {
		t.Fatalf("turnserver: remove a secret: %v", err)
	}
}

// sql runs statements on the server's database with the sqlite3 command,
// from its standard input (not its command line), waiting up to 5 s for a
// lock coturn holds.
func (s *Server) sql(statements string) error {
	if s.db == "" {
		return errors.New("the server keeps its secrets in its configuration (start it with Options.SecretsInDB)")
	}
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		return errors.New("Options.SecretsInDB needs the sqlite3 command (apt-get install sqlite3; Debian's coturn depends on it)")
	}
	cmd := exec.Command(bin, "-bail", s.db)
	cmd.Stdin = strings.NewReader(".timeout 5000\n" + statements)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sqlite3 %s: %v: %s", s.db, err, out)
	}
	return nil
}

// probe returns nil once the server answers an unauthenticated Allocate over
// UDP and over TCP with 401 and its own realm, which no other process on the
// port would. Each request waits probeTimeout for its answer; one that
// fails sooner (nothing listens yet) is sent again when that time is up.
// It gives up when done is closed, or with errPortTaken when another server
// answers.
func (s *Server) probe(realm string, done <-chan struct{}) error {
	for _, network := range []string{"udp", "tcp"} {
		for {
			next := time.NewTimer(probeTimeout)
			err := s.probeOnce(network, realm)
			if err == nil {
				next.Stop()
				break
			}
			if errors.Is(err, errPortTaken) {
				next.Stop()
				return err
			}
			select {
			case <-done:
				next.Stop()
				return err
			case <-next.C:
			}
		}
	}
	return nil
}

// probeOnce sends one Allocate over network and reads the answer.
func (s *Server) probeOnce(network, realm string) error {
	conn, err := net.DialTimeout(network, s.Addr(), probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	req := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}, // UDP
		stun.Fingerprint)
	if _, err := conn.Write(req.Raw); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	res := &stun.Message{Raw: buf[:n]}
	if err := res.Decode(); err != nil {
		return fmt.Errorf("port %d: %w: not STUN over %s: %v", s.Port, errPortTaken, network, err)
	}
	var code stun.ErrorCodeAttribute
	var got stun.Realm
	if res.Type != stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse) ||
		code.GetFrom(res) != nil || code.Code != stun.CodeUnauthorized ||
		got.GetFrom(res) != nil || string(got) != realm {
		return fmt.Errorf("port %d: %w: another server answers over %s (%v, error %v, realm %q)",
			s.Port, errPortTaken, network, res.Type, code, got)
	}
	return nil
}

// freePort returns a port that is free on Host for both UDP and TCP at the
// time of the call.
func freePort() (int, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(Host, "0"))
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort(Host, strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			continue // TCP has it: try another
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no port free for both UDP and TCP in 20 tries")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
