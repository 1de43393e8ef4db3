package telemetry

import (
	"context"
	"errors"
	"log/slog"
)

// NewHandler returns a slog.Handler that passes records to inner, first
// adding to every record logged with a context that carries a Record the
// invocation's identity: lambdaRequestId, requestId, connectionId,
// routeKey, eventType, internalEvent, action (or actionBytes) and roomID, as
// far as they are known and the record does not set them itself. So a
// warning logged in the middle of a fan-out can be found by the same
// connectionId or roomID as the invocation's own line.
func NewHandler(inner slog.Handler) slog.Handler { return handler{inner} }

type handler struct{ inner slog.Handler }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	rec := FromContext(ctx)
	if rec == nil {
		return h.inner.Handle(ctx, r)
	}
	own := make(map[string]bool, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		own[a.Key] = true
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	for _, a := range rec.identityAttrs() {
		if !own[a.Key] {
			out.AddAttrs(a)
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.inner.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.inner.WithGroup(name)} }

// ErrorAttrs returns err as log attributes: "error", its whole message, and
// "errorChain", the message of every error it wraps, outermost first (depth
// first through errors.Join), so the innermost cause stands on its own.
// Links whose message is their parent's are left out.
func ErrorAttrs(err error) []slog.Attr {
	if err == nil {
		return nil
	}
	return []slog.Attr{slog.String("error", err.Error()), slog.Any("errorChain", ErrorChain(err))}
}

// ErrorChain returns the messages of err and every error it wraps, outermost
// first, depth first through errors that wrap several (errors.Join). A link
// whose message equals the previous one's is left out.
func ErrorChain(err error) []string {
	var chain []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if msg := e.Error(); len(chain) == 0 || chain[len(chain)-1] != msg {
			chain = append(chain, msg)
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		default:
			walk(errors.Unwrap(e))
		}
	}
	walk(err)
	return chain
}
