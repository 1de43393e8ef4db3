package handlers

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
	return c
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
