package handlers

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/turn"
)

// Config is the function's configuration, read from its environment.
type Config struct {
	// TableName is the DynamoDB table (TABLE_NAME, required).
	TableName string
	// ConnectionsURL is the @connections endpoint of the stage,
	// https://{api-id}.execute-api.{region}.amazonaws.com/{stage}
	// (CONNECTIONS_URL, required).
	ConnectionsURL string
	// FunctionName is this function's name, for the asynchronous
	// self-invocation that sends "connected" (AWS_LAMBDA_FUNCTION_NAME, set
	// by Lambda).
	FunctionName string
	// DefaultCapacity is the capacity of a room created without one
	// (DEFAULT_ROOM_CAPACITY, default 8).
	DefaultCapacity int
	// MaxCapacity is the largest capacity a client may ask for
	// (MAX_ROOM_CAPACITY, default 50).
	MaxCapacity int
	// FanOutConcurrency bounds the posts in flight during one fan-out
	// (FANOUT_CONCURRENCY, default 16).
	FanOutConcurrency int
	// MetricsNamespace is the CloudWatch namespace of the embedded metrics
	// (METRICS_NAMESPACE, default "slsrtc").
	MetricsNamespace string
	// LogLevel is the minimum level logged (AWS_LAMBDA_LOG_LEVEL, set by
	// Lambda from the function's LoggingConfig; default INFO).
	LogLevel slog.Level
	// AuthSecrets, if any, make $connect require a token signed with one of
	// them (AUTH_SECRETS: the SecretString of a Secrets Manager secret,
	// {"current":"…","previous":"…"}; see auth.ParseSecrets). None: anyone
	// may connect.
	AuthSecrets [][]byte
	// AuthAudience is the audience a token must name (AUTH_AUDIENCE,
	// default "slsrtc").
	AuthAudience string
	// AllowedOrigins, if any, are the only Origin headers a browser's
	// handshake may carry (ALLOWED_ORIGINS, comma-separated, e.g.
	// "https://app.example.com"); clients that send no Origin (not
	// browsers) are not affected.
	AllowedOrigins []string
	// Limits are the per-connection limits (see dynamo.Limits). LoadConfig
	// fills the defaults of the ones the environment does not set; a Config
	// built in code has none unless it sets them.
	Limits Limits
	// ResumeGrace is how long a participant whose connection closed keeps
	// its seat, its name and its signals for a new connection to resume it
	// (RESUME_GRACE_SECONDS, default 30; 0: no resume, a closed connection
	// leaves its room at once). Like Limits, a Config built in code has none
	// unless it sets it.
	ResumeGrace time.Duration
	// MaxConnectionDuration and IdleTimeout are when API Gateway closes a
	// connection: after it has been open this long, or idle this long
	// (MAX_CONNECTION_SECONDS, default 7200, and IDLE_TIMEOUT_SECONDS,
	// default 600: API Gateway's). The function does not enforce them; it
	// tells clients, in "connected", so that they resume before the cut.
	MaxConnectionDuration, IdleTimeout time.Duration
	// ICE is the STUN and TURN servers handed to clients (iceservers, and
	// after an enter): STUN_URLS, TURN_URLS, TURN_TTL and TURN_SECRETS (see
	// turn.LoadConfig). None: clients get an empty list, and connect only
	// where a direct path exists.
	ICE turn.Config
	// Push is Web Push: who is told that someone entered a room they
	// follow (docs/push.md).
	Push PushConfig
}

// PushConfig is the Web Push configuration.
type PushConfig struct {
	// VAPID signs the notifications, and its public key is the page's
	// applicationServerKey, sent in "connected" (VAPID_SECRET: the
	// SecretString of a Secrets Manager secret {"publicKey":…,
	// "privateKey":…,"subject":…}, see push.ParseVAPID; VAPID_SUBJECT, if
	// set, replaces its subject). nil: push is off, and subscribe is
	// refused with push-disabled.
	VAPID *push.VAPID
	// Hosts are the only push services a subscription's endpoint may name
	// (PUSH_HOSTS, comma-separated; default push.KnownServices); AnyHost
	// (PUSH_HOSTS=*) accepts any public https host instead.
	Hosts   []string
	AnyHost bool
	// PageURL is the page a notification opens, with ?room=<room ID>
	// appended (PUSH_PAGE_URL, e.g. https://app.example.com/). Empty: the
	// notification carries no URL, and the service worker opens its own
	// scope with ?room=.
	PageURL string
}

// Policy returns the endpoints a subscription may name: https to public
// addresses, on Hosts unless AnyHost.
func (p PushConfig) Policy() push.Policy {
	if p.AnyHost {
		return push.Policy{}
	}
	return push.Policy{Hosts: p.Hosts}
}

// loadPush reads the Web Push settings (see PushConfig), appending what is
// wrong to problems.
func loadPush(getenv func(string) string, problems *[]string) PushConfig {
	var c PushConfig
	subject := getenv("VAPID_SUBJECT")
	if v := getenv("VAPID_SECRET"); v != "" {
		keys, err := push.ParseVAPID(v)
		if err == nil && subject != "" {
			keys, err = keys.WithSubject(subject)
		}
		if err != nil {
			*problems = append(*problems, "VAPID_SECRET: "+err.Error())
		}
		c.VAPID = keys
	} else if subject != "" {
		*problems = append(*problems, "VAPID_SUBJECT needs VAPID_SECRET, the key pair it is the contact of")
	}
	for h := range strings.SplitSeq(getenv("PUSH_HOSTS"), ",") {
		switch h = strings.ToLower(strings.TrimSpace(h)); {
		case h == "*":
			c.AnyHost = true
		case h != "":
			c.Hosts = append(c.Hosts, h)
		}
	}
	if c.AnyHost && len(c.Hosts) > 0 {
		*problems = append(*problems, "PUSH_HOSTS: * (any host) and a list of hosts")
	}
	if c.PageURL = getenv("PUSH_PAGE_URL"); c.PageURL != "" {
		if u, err := url.Parse(c.PageURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			*problems = append(*problems, fmt.Sprintf("PUSH_PAGE_URL: %q is not an http(s) URL without a query", c.PageURL))
		}
	}
	return c
}

// Limits are the per-connection limits of the configuration; zero fields
// are no limit.
type Limits struct {
	// RoomsPerConnection is how many rooms one connection may create
	// (MAX_ROOMS_PER_CONNECTION, default 10).
	RoomsPerConnection int
	// MovesPerMinute is how many enters and leaves one connection may make
	// in a minute (ENTERS_PER_MINUTE, default 30).
	MovesPerMinute int
	// MessagesPerSecond is how many messages one connection may relay per
	// second, averaged over 10-second windows (MESSAGES_PER_SECOND, default
	// 20: 200 per window). A connection refused as many messages again in
	// one window is closed.
	MessagesPerSecond int
	// SubscriptionsPerRoom bounds the push subscriptions of a room, and
	// SubscribesPerConnection the subscribe actions of a connection
	// (defaults 10 and 5, not settable: docs/push.md).
	SubscriptionsPerRoom, SubscribesPerConnection int
	// NotifyEvery is the least time between two notifications to one
	// subscription about one room (default a minute).
	NotifyEvery time.Duration
}

// messageWindow is the window messages are counted in: long enough that a
// burst of ICE candidates spends a share of it, not all.
const messageWindow = 10 * time.Second

// Store returns the limits in the store's terms.
func (l Limits) Store() dynamo.Limits {
	out := dynamo.Limits{RoomsPerConnection: l.RoomsPerConnection, SubscriptionsPerRoom: l.SubscriptionsPerRoom,
		SubscribesPerConnection: l.SubscribesPerConnection, NotifyEvery: l.NotifyEvery}
	if l.MovesPerMinute > 0 {
		out.Moves = dynamo.Rate{N: l.MovesPerMinute, Per: time.Minute}
	}
	if l.MessagesPerSecond > 0 {
		n := l.MessagesPerSecond * int(messageWindow/time.Second)
		out.Messages = dynamo.Rate{N: n, Per: messageWindow}
		out.AbuseAfter = n
	}
	return out
}

// CapacityLimit is the largest room the configuration allows: a room is read
// whole on every change of its membership, and up to this size that read is
// one page of one partition (about 200 bytes per member, far below the 1 MB
// of a Query page), hence one consistent snapshot.
const CapacityLimit = 1000

// Defaults of the optional settings.
const (
	DefaultRoomCapacity      = 8
	DefaultMaxRoomCapacity   = 50
	DefaultFanOutConcurrency = 16
	DefaultMetricsNamespace  = "slsrtc"

	DefaultAuthAudience = "slsrtc"

	DefaultRoomsPerConnection = 10
	DefaultMovesPerMinute     = 30
	DefaultMessagesPerSecond  = 20

	DefaultSubscriptionsPerRoom    = 10
	DefaultSubscribesPerConnection = 5
	DefaultNotifyEvery             = time.Minute

	DefaultResumeGrace           = 30 * time.Second
	MaxResumeGrace               = 10 * time.Minute
	DefaultMaxConnectionDuration = 2 * time.Hour
	DefaultIdleTimeout           = 10 * time.Minute
)

// withDefaults returns c with every optional setting that is unset (zero)
// set to its default: the one place the defaults are applied, for LoadConfig
// and for a Config built in code (New).
func (c Config) withDefaults() Config {
	if c.MetricsNamespace == "" {
		c.MetricsNamespace = DefaultMetricsNamespace
	}
	if c.MaxCapacity < 1 {
		c.MaxCapacity = DefaultMaxRoomCapacity
	}
	if c.DefaultCapacity < 1 {
		c.DefaultCapacity = DefaultRoomCapacity
	}
	if c.FanOutConcurrency < 1 {
		c.FanOutConcurrency = DefaultFanOutConcurrency
	}
	if c.AuthAudience == "" {
		c.AuthAudience = DefaultAuthAudience
	}
	if c.MaxConnectionDuration <= 0 {
		c.MaxConnectionDuration = DefaultMaxConnectionDuration
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if len(c.Push.Hosts) == 0 && !c.Push.AnyHost {
		c.Push.Hosts = push.KnownServices
	}
	return c
}

func orDefault(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// LoadConfig reads the configuration through getenv (os.Getenv in the
// Lambda). It returns an error naming every missing or malformed variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:        getenv("TABLE_NAME"),
		ConnectionsURL:   getenv("CONNECTIONS_URL"),
		FunctionName:     getenv("AWS_LAMBDA_FUNCTION_NAME"),
		MetricsNamespace: getenv("METRICS_NAMESPACE"),
	}
	var problems []string
	if c.TableName == "" {
		problems = append(problems, "TABLE_NAME is required")
	}
	if c.ConnectionsURL == "" {
		problems = append(problems, "CONNECTIONS_URL is required")
	}
	intVar := func(name string, lo, hi int) int {
		s := getenv(name)
		if s == "" {
			return 0 // withDefaults fills it
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			problems = append(problems, fmt.Sprintf("%s must be an integer from %d to %d, not %q", name, lo, hi, s))
			return 0
		}
		return n
	}
	c.MaxCapacity = intVar("MAX_ROOM_CAPACITY", 1, CapacityLimit)
	c.DefaultCapacity = intVar("DEFAULT_ROOM_CAPACITY", 1, CapacityLimit)
	c.FanOutConcurrency = intVar("FANOUT_CONCURRENCY", 1, 1000)
	c.Limits = Limits{
		RoomsPerConnection: orDefault(intVar("MAX_ROOMS_PER_CONNECTION", 1, 100000), DefaultRoomsPerConnection),
		MovesPerMinute:     orDefault(intVar("ENTERS_PER_MINUTE", 1, 100000), DefaultMovesPerMinute),
		MessagesPerSecond:  orDefault(intVar("MESSAGES_PER_SECOND", 1, 100000), DefaultMessagesPerSecond),

		SubscriptionsPerRoom:    DefaultSubscriptionsPerRoom,
		SubscribesPerConnection: DefaultSubscribesPerConnection,
		NotifyEvery:             DefaultNotifyEvery,
	}
	c.Push = loadPush(getenv, &problems)
	c.ResumeGrace = DefaultResumeGrace
	if getenv("RESUME_GRACE_SECONDS") != "" {
		c.ResumeGrace = time.Duration(intVar("RESUME_GRACE_SECONDS", 0, int(MaxResumeGrace/time.Second))) * time.Second
	}
	c.MaxConnectionDuration = time.Duration(intVar("MAX_CONNECTION_SECONDS", 1, 7200)) * time.Second
	c.IdleTimeout = time.Duration(intVar("IDLE_TIMEOUT_SECONDS", 1, 7200)) * time.Second
	if v := getenv("AUTH_SECRETS"); v != "" {
		secrets, err := auth.ParseSecrets(v)
		if err != nil {
			problems = append(problems, "AUTH_SECRETS: "+err.Error())
		}
		c.AuthSecrets = secrets
	}
	if ice, err := turn.LoadConfig(getenv); err != nil {
		problems = append(problems, err.Error())
	} else {
		c.ICE = ice
	}
	c.AuthAudience = getenv("AUTH_AUDIENCE")
	for o := range strings.SplitSeq(getenv("ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSuffix(strings.TrimSpace(o), "/"); o != "" {
			if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
				problems = append(problems, fmt.Sprintf("ALLOWED_ORIGINS: %q is not an origin (scheme://host[:port])", o))
			}
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
	}
	c = c.withDefaults()
	if c.DefaultCapacity > c.MaxCapacity {
		problems = append(problems, fmt.Sprintf("DEFAULT_ROOM_CAPACITY (%d) exceeds MAX_ROOM_CAPACITY (%d)", c.DefaultCapacity, c.MaxCapacity))
	}
	level, err := parseLevel(getenv("AWS_LAMBDA_LOG_LEVEL"))
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.LogLevel = level
	if len(problems) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// parseLevel maps Lambda's log levels (TRACE, DEBUG, INFO, WARN, ERROR,
// FATAL) to slog's. FATAL is above ERROR (slog has no name for it): Lambda
// drops ERROR lines at FATAL, and telemetry.MetricsLevel must know.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(s) {
	case "", "INFO":
		return slog.LevelInfo, nil
	case "TRACE", "DEBUG":
		return slog.LevelDebug, nil
	case "WARN":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "FATAL":
		return slog.LevelError + 4, nil
	}
	return slog.LevelInfo, fmt.Errorf("AWS_LAMBDA_LOG_LEVEL %q is not a Lambda log level", s)
}
