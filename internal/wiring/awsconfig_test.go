package wiring_test

import (
	"context"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/internal/wiring"
)

func TestLambdaAWSConfig(t *testing.T) {
	env := map[string]string{
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN":     "token",
	}
	cfg, err := wiring.LambdaAWSConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDEXAMPLE" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" || creds.CanExpire {
		t.Errorf("credentials = %+v", creds)
	}
}

func TestLambdaAWSConfigMissing(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing", nil, []string{"AWS_REGION", "AWS_ACCESS_KEY_ID"}},
		{"no secret", map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "k"}, []string{"AWS_SECRET_ACCESS_KEY"}},
		{"no region", map[string]string{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, []string{"AWS_REGION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wiring.LambdaAWSConfig(func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}
