package emulator

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Payload quotas of Lambda's Invoke API: 6 MB synchronous, 256 KB for Event
// invocations (never more than what AWS accepts, so what passes here passes there).
const (
	maxSyncPayload  = 6 * 1024 * 1024
	maxAsyncPayload = 256 * 1024
)

// serveInvoke answers Lambda's Invoke API (POST
// /2015-03-31/functions/{name}/invocations) for the one function. The invocation type
// comes from X-Amz-Invocation-Type: Event answers 202 and runs the handler in the
// background, RequestResponse (the default) answers 200 with its result, DryRun 204.
func (g *Gateway) serveInvoke(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if g.cfg.FunctionName == "" || functionName(name) != g.cfg.FunctionName {
		writeAWSError(w, codeResourceNotFound, "Function not found: arn:aws:lambda:"+g.cfg.Region+":"+g.cfg.AccountID+":function:"+functionName(name))
		return
	}
	invocationType := r.Header.Get("X-Amz-Invocation-Type")
	limit := maxSyncPayload
	switch invocationType {
	case "", "RequestResponse", "DryRun":
	case "Event":
		limit = maxAsyncPayload
	default:
		writeAWSError(w, codeInvalidParameter, "invalid invocation type "+invocationType)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		writeAWSError(w, codeInvalidContent, "could not read the request body")
		return
	}
	if len(payload) > limit {
		writeAWSError(w, codeRequestTooLarge, "Request must be smaller than "+formatBytes(limit)+" for "+orDefault(invocationType, "RequestResponse")+" invocations")
		return
	}
	if len(payload) > 0 && !json.Valid(payload) {
		writeAWSError(w, codeInvalidContent, "Could not parse request body into json")
		return
	}
	cc, err := clientContext(r.Header.Get("X-Amz-Client-Context"))
	if err != nil {
		writeAWSError(w, codeInvalidParameter, "Client context must be a valid Base64-encoded JSON object")
		return
	}

	requestID := newUUID()
	w.Header().Set("X-Amzn-RequestId", requestID)
	switch invocationType {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
	case "Event":
		g.inflight.add()
		g.busy.add()
		go func() {
			defer g.inflight.done()
			defer g.busy.done()
			g.invoke(requestID, payload, cc) // failures are logged; Lambda's retries are not emulated
		}()
		w.WriteHeader(http.StatusAccepted)
	default:
		inv := g.invoke(requestID, payload, cc)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		body := inv.payload
		if inv.failed() {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			body, _ = json.Marshal(inv.errorResponse(g.cfg.FunctionTimeout))
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// functionName returns the function name in a FunctionName parameter, which may be a
// name, a partial ARN (123456789012:function:name) or an ARN, each with an optional
// :qualifier.
func functionName(s string) string {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn" && parts[5] == "function":
		return parts[6]
	case len(parts) >= 3 && parts[1] == "function":
		return parts[2]
	}
	return parts[0]
}

// clientContext decodes an X-Amz-Client-Context header, the base64 of a JSON object.
func clientContext(header string) (*lambdacontext.ClientContext, error) {
	if header == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return nil, err
	}
	var cc lambdacontext.ClientContext
	if err := json.Unmarshal(b, &cc); err != nil {
		return nil, err
	}
	return &cc, nil
}

func formatBytes(n int) string {
	if n%(1024*1024) == 0 {
		return strconv.Itoa(n/(1024*1024)) + " MB"
	}
	return strconv.Itoa(n/1024) + " KB"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
