package emulator

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// ReadTemplate reads the repository's template.yaml, short-form tags and all.
func TestReadTemplate(t *testing.T) {
	tests := []struct {
		path string
		want Template
	}{
		{
			path: filepath.Join("..", "template.yaml"),
			want: Template{
				RouteSelectionExpression: "$request.body.action",
				Routes:                   []string{"$connect", "$default", "$disconnect", "createroom", "enterroom", "iceservers", "leaveroom", "message", "ping", "resume", "subscribe", "unsubscribe"},
				RouteResponses:           map[string]bool{},
				StageName:                "slsrtc",
				FunctionName:             "SignalingFunction",
				FunctionTimeout:          10 * time.Second,
			},
		},
		{
			path: filepath.Join("testdata", "template-route-response.yaml"),
			want: Template{
				RouteSelectionExpression: "${request.body.action}",
				Routes:                   []string{"$connect", "ping"},
				RouteResponses:           map[string]bool{"ping": true},
				StageName:                "dev",
				FunctionName:             "Signaling",
				FunctionTimeout:          20 * time.Second, // from Globals
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ReadTemplate(tt.path)
			if err != nil {
				t.Fatalf("ReadTemplate: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ReadTemplate =\n%+v\nwant\n%+v", *got, tt.want)
			}
			// What the template says must be a configuration New accepts.
			if _, err := New(Config{
				Stage:                    got.StageName,
				RouteSelectionExpression: got.RouteSelectionExpression,
				Routes:                   got.Routes,
				RouteResponses:           got.RouteResponses,
				FunctionName:             got.FunctionName,
				FunctionTimeout:          got.FunctionTimeout,
				Handler:                  newRecorder(nil),
			}); err != nil {
				t.Errorf("New with the template's settings: %v", err)
			}
		})
	}
}

// ReadTemplate explains what it cannot use.
func TestReadTemplateErrors(t *testing.T) {
	api := `
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
`
	fn := `
  Fn:
    Type: AWS::Serverless::Function
`
	stage := `
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Api, StageName: !Ref Name}
`
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"not yaml", "{[", "yaml"},
		{"not a mapping", "- a\n- b\n", "not a YAML mapping"},
		{"no api", "Resources:" + fn, "found 0 WebSocket APIs"},
		{"no expression", "Resources:\n  Api:\n    Type: AWS::ApiGatewayV2::Api\n    Properties: {ProtocolType: WEBSOCKET}\n" + fn, "no RouteSelectionExpression"},
		{"parameter without default", "Parameters:\n  Name: {Type: String}\nResources:" + api + fn + stage, "parameter Name has no Default"},
		{"no stage", "Resources:" + api + fn, "no Default"},
		{"no function", "Parameters:\n  StageName: {Default: s}\nResources:" + api, "found 0 functions"},
		{"two functions, no integration", "Parameters:\n  StageName: {Default: s}\nResources:" + api + fn + "\n  Other:\n    Type: AWS::Lambda::Function\n", "found 0 functions"},
		{"timeout not a number", "Parameters:\n  StageName: {Default: s}\nResources:" + api + fn + "    Properties: {Timeout: ten}\n", `Timeout "ten" is not a number`},
		{"timeout too long", "Parameters:\n  StageName: {Default: s}\nResources:" + api + fn + "    Properties: {Timeout: 901}\n", "outside Lambda's 1 to 900 seconds"},
		{"timeout parameter without default", "Parameters:\n  StageName: {Default: s}\n  T: {Type: Number}\nResources:" + api + fn + "    Properties: {Timeout: !Ref T}\n", "Timeout parameter T has no Default"},
		{"route response to nowhere", "Parameters:\n  StageName: {Default: s}\nResources:" + api + fn + "\n  RR:\n    Type: AWS::ApiGatewayV2::RouteResponse\n    Properties: {ApiId: !Ref Api, RouteId: !Ref Missing}\n", "route response RR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "template.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadTemplate(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadTemplate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := ReadTemplate(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTemplate of a missing file = %v, want a wrapped fs.ErrNotExist", err)
	}
}

// The function's Timeout: its own, else Globals.Function.Timeout (SAM
// functions only), else Lambda's default; a !Ref takes the parameter's Default.
func TestReadFunctionTimeout(t *testing.T) {
	head := `
Parameters:
  StageName: {Default: s}
  Seconds: {Type: Number, Default: 7}
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
`
	tests := []struct {
		name, yaml string
		want       time.Duration
	}{
		{"default", head + "  Fn:\n    Type: AWS::Serverless::Function\n", 3 * time.Second},
		{"own", head + "  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Timeout: 12}\n", 12 * time.Second},
		{"numeric string", head + "  Fn:\n    Type: AWS::Lambda::Function\n    Properties: {Timeout: \"12\"}\n", 12 * time.Second},
		{"parameter", head + "  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Timeout: !Ref Seconds}\n", 7 * time.Second},
		{"globals", "Globals:\n  Function: {Timeout: 30}\n" + head + "  Fn:\n    Type: AWS::Serverless::Function\n", 30 * time.Second},
		{"own beats globals", "Globals:\n  Function: {Timeout: 30}\n" + head + "  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Timeout: 5}\n", 5 * time.Second},
		{"globals are SAM's only", "Globals:\n  Function: {Timeout: 30}\n" + head + "  Fn:\n    Type: AWS::Lambda::Function\n", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "template.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadTemplate(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.FunctionTimeout != tt.want {
				t.Errorf("FunctionTimeout = %v, want %v", got.FunctionTimeout, tt.want)
			}
		})
	}
}
