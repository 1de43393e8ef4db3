package emulator

import (
	"encoding/json"
	"net/http"
)

// Error codes the emulated AWS APIs answer with.
const (
	codeForbidden        = "ForbiddenException"
	codeAccessDenied     = "AccessDeniedException"
	codeGone             = "GoneException"
	codePayloadTooLarge  = "PayloadTooLargeException"
	codeLimitExceeded    = "LimitExceededException"
	codeResourceNotFound = "ResourceNotFoundException"
	codeRequestTooLarge  = "RequestTooLargeException"
	codeInvalidParameter = "InvalidParameterValueException"
	codeInvalidContent   = "InvalidRequestContentException"
	codeBadRequest       = "BadRequestException"
)

// awsErrorStatus is the one table from an error code to the HTTP status that carries it.
var awsErrorStatus = map[string]int{
	codeForbidden:        http.StatusForbidden,
	codeAccessDenied:     http.StatusForbidden,
	codeGone:             http.StatusGone,
	codePayloadTooLarge:  http.StatusRequestEntityTooLarge,
	codeLimitExceeded:    http.StatusTooManyRequests,
	codeResourceNotFound: http.StatusNotFound,
	codeRequestTooLarge:  http.StatusRequestEntityTooLarge,
	codeInvalidParameter: http.StatusBadRequest,
	codeInvalidContent:   http.StatusBadRequest,
	codeBadRequest:       http.StatusBadRequest,
}

// writeAWSError answers a rest-json error the way the AWS SDKs read it: the code in
// the X-Amzn-ErrorType header and in the body's __type, the text in its message.
func writeAWSError(w http.ResponseWriter, code, message string) {
	status, ok := awsErrorStatus[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{code, message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
