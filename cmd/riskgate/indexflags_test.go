package main

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestDynamoEndpointFromTheSDKsEnvironment: DynamoDB Local is found the way
// every AWS tool finds it, AWS_ENDPOINT_URL_DYNAMODB; the flag overrides it.
func TestDynamoEndpointFromTheSDKsEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
	defer func(old string) { ixf.dynamoEndpoint = old }(ixf.dynamoEndpoint)

	ixf.dynamoEndpoint = ""
	c, err := dynamoClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(c.Options().BaseEndpoint); got != "http://127.0.0.1:8000" {
		t.Fatalf("endpoint %q, want AWS_ENDPOINT_URL_DYNAMODB's", got)
	}
	ixf.dynamoEndpoint = "http://dynamodb:8000"
	if c, err = dynamoClient(context.Background()); err != nil || aws.ToString(c.Options().BaseEndpoint) != "http://dynamodb:8000" {
		t.Fatalf("the flag must override: %v %v", aws.ToString(c.Options().BaseEndpoint), err)
	}
}
