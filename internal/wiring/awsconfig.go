package wiring

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// LambdaAWSConfig returns the AWS configuration of the function inside
// Lambda: the region from AWS_REGION and the execution role's credentials
// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which
// Lambda sets before init and keeps valid for the life of the execution
// environment.
//
// It replaces config.LoadDefaultConfig, whose chain ends in exactly these
// environment credentials inside Lambda but links SSO, STS, IMDS, the
// shared-config parser and their clients: about 1.8 MB of the arm64
// bootstrap (docs/performance.md). It reads no file and makes no network
// call.
func LambdaAWSConfig(getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	var problems []error
	if region == "" {
		problems = append(problems, errors.New("AWS_REGION is not set"))
	}
	if key == "" || secret == "" {
		problems = append(problems, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"))
	}
	if len(problems) > 0 {
		return aws.Config{}, errors.Join(append([]error{errors.New("AWS configuration (Lambda sets these variables)")}, problems...)...)
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN")),
	}, nil
}
