package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Reserved route keys.
const (
	routeConnect    = "$connect"
	routeDisconnect = "$disconnect"
	routeDefault    = "$default"
)

// bodyExpression matches the route selection expressions API Gateway evaluates on a JSON
// message body: $request.body.action or ${request.body.action}, possibly nested (a.b).
var bodyExpression = regexp.MustCompile(`^(?:\$request\.body\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)|\$\{request\.body\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\})$`)

// routeSelector picks the route of a message: the value at path in the JSON body,
// stringified, matched exactly against the message routes, with $default as fallback.
type routeSelector struct {
	path   []string
	routes map[string]bool // message routes: every route except $connect and $disconnect
}

// newRouteSelector parses a $request.body.<field> expression. Any other kind of
// expression is an error: it is all a WebSocket API with a Lambda proxy needs.
func newRouteSelector(expr string, routes []string) (*routeSelector, error) {
	m := bodyExpression.FindStringSubmatch(expr)
	if m == nil {
		return nil, fmt.Errorf("route selection expression %q: only $request.body.<field> is supported", expr)
	}
	field := m[1] + m[2]
	s := &routeSelector{path: strings.Split(field, "."), routes: map[string]bool{}}
	for _, r := range routes {
		if r != routeConnect && r != routeDisconnect {
			s.routes[r] = true
		}
	}
	return s, nil
}

// selectRoute returns the route key for body, or "" when nothing matches and there is
// no $default route (API Gateway then answers with a Forbidden frame).
func (s *routeSelector) selectRoute(body []byte) string {
	if key, ok := s.value(body); ok && key != routeDefault && s.routes[key] {
		return key
	}
	if s.routes[routeDefault] {
		return routeDefault
	}
	return ""
}

// value extracts the selection value from body. It reports false for a non-JSON body, a
// missing field or a null.
func (s *routeSelector) value(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	for _, name := range s.path {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = obj[name]; !ok {
			return "", false
		}
	}
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	default: // bool, object, array: their JSON text
		b, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}
