package chaos_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/truora/minidyn/server"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

const table = "chaos-test"

// proxied starts minidyn with a table behind a DynamoDBProxy with profile and
// returns the proxy and an SDK client through it that does not retry.
func proxied(t *testing.T, profile chaos.Profile) (*chaos.DynamoDBProxy, *dynamodb.Client) {
	t.Helper()
	db := httptest.NewServer(server.NewServer())
	t.Cleanup(db.Close)
	p, err := chaos.NewDynamoDBProxy(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	p.SetProfile(profile)
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	client := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(hs.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
	_, err = client.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil { // control-plane calls never meet chaos
		t.Fatalf("CreateTable through the proxy: %v", err)
	}
	return p, client
}

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
}

func put(pk string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: key(pk)}}
}

// DynamoDB chaos reaches the SDK as DynamoDB's own errors, typed: a transaction
// conflict cancels a transaction with one item's reason TransactionConflict (the
// others None) and fails a single write with TransactionConflictException, never
// a read; throttling is ProvisionedThroughputExceededException or
// ThrottlingException, each with its namespace, on any data-plane call.
func TestDynamoDBChaosErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("conflict", func(t *testing.T) {
		p, client := proxied(t, chaos.Profile{Seed: 1, DynamoDBConflict: 1})
		for i := range 5 {
			_, err := client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
				TransactItems: []types.TransactWriteItem{put("a" + strconv.Itoa(i)), put("b" + strconv.Itoa(i)), put("c" + strconv.Itoa(i))},
			})
			var canceled *types.TransactionCanceledException
			if !errors.As(err, &canceled) {
				t.Fatalf("TransactWriteItems: %v, want *types.TransactionCanceledException", err)
			}
			var codes []string
			for _, r := range canceled.CancellationReasons {
				codes = append(codes, aws.ToString(r.Code))
			}
			if len(codes) != 3 || countOf(codes, "TransactionConflict") != 1 || countOf(codes, "None") != 2 {
				t.Errorf("cancellation reasons %v, want one TransactionConflict and two None", codes)
			}
		}
		for name, err := range map[string]error{"UpdateItem": update(client, "x"), "DeleteItem": del(client, "x")} {
			if conflict := (*types.TransactionConflictException)(nil); !errors.As(err, &conflict) {
				t.Errorf("%s: %v, want *types.TransactionConflictException", name, err)
			}
		}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: key("x")}); err != nil {
			t.Errorf("PutItem: %v, want no conflict on a new item", err)
		}
		if _, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("x")}); err != nil {
			t.Errorf("GetItem: %v, want no conflict on a read", err)
		}
		if got := p.Stats(); got.DynamoDBConflicts != 7 || got.DynamoDBThrottles != 0 {
			t.Errorf("stats %+v, want 7 conflicts", got)
		}
	})
	t.Run("throttling", func(t *testing.T) {
		p, client := proxied(t, chaos.Profile{Seed: 2, DynamoDBThrottle: 1})
		seen := map[string]int{}
		for range 20 {
			_, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("x")})
			var pte *types.ProvisionedThroughputExceededException
			var te *types.ThrottlingException
			var api smithy.APIError
			var re *awshttp.ResponseError
			switch {
			case !errors.As(err, &api) || !errors.As(err, &re) || re.HTTPStatusCode() != 400:
				t.Fatalf("GetItem: %v, want a 400 API error", err)
			case errors.As(err, &pte):
				seen[api.ErrorCode()]++
			case errors.As(err, &te):
				seen[api.ErrorCode()]++
			default:
				t.Fatalf("GetItem: %v, want throttling", err)
			}
		}
		if seen["ProvisionedThroughputExceededException"] == 0 || seen["ThrottlingException"] == 0 {
			t.Errorf("throttling errors %v, want both kinds", seen)
		}
		if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
			t.Errorf("DescribeTable: %v, want the control plane untouched", err)
		}
		if got := p.Stats().DynamoDBThrottles; got != 20 {
			t.Errorf("%d throttles counted, want 20", got)
		}
	})
	t.Run("the SDK retries throttling", func(t *testing.T) {
		_, client := proxied(t, chaos.Profile{Seed: 3, DynamoDBThrottle: 0.5})
		retrying := dynamodb.New(client.Options(), func(o *dynamodb.Options) {
			o.RetryMaxAttempts = 0
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 10
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				so.RateLimiter = ratelimit.None
			})
		})
		for i := range 20 {
			if _, err := retrying.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: key("k" + strconv.Itoa(i))}); err != nil {
				t.Errorf("PutItem %d with retries: %v", i, err)
			}
		}
	})
}

// update sets an attribute of the item pk, creating it if need be.
func update(client *dynamodb.Client, pk string) error {
	_, err := client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key(pk),
		UpdateExpression:          aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "1"}},
	})
	return err
}

// del deletes the item pk.
func del(client *dynamodb.Client, pk string) error {
	_, err := client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(pk)})
	return err
}

func countOf(s []string, v string) int {
	n := 0
	for _, e := range s {
		if e == v {
			n++
		}
	}
	return n
}

// The same seed makes the same choices for the same sequence of calls; another
// seed makes others. Latency draws stay in their range.
func TestDynamoDBChaosSeeded(t *testing.T) {
	run := func(seed int64) (outcomes []string) {
		profile := chaos.Profile{Seed: seed, DynamoDBConflict: 0.3, DynamoDBThrottle: 0.3}
		_, client := proxied(t, profile)
		for i := range 40 {
			err := update(client, "k"+strconv.Itoa(i))
			var api smithy.APIError
			switch {
			case err == nil:
				outcomes = append(outcomes, "ok")
			case errors.As(err, &api):
				outcomes = append(outcomes, api.ErrorCode())
			default:
				t.Fatalf("UpdateItem: %v", err)
			}
		}
		return outcomes
	}
	a, b, other := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Errorf("seed 42 twice:\n%v\n%v", a, b)
	}
	if slices.Equal(a, other) {
		t.Errorf("seeds 42 and 43 made the same choices: %v", a)
	}
	if countOf(a, "ok") == 0 || countOf(a, "TransactionConflictException") == 0 {
		t.Errorf("outcomes %v, want successes and conflicts", a)
	}

	rg := chaos.Range{Min: time.Millisecond, Max: 3 * time.Millisecond}
	r1, r2 := chaos.NewRand(7, "dynamodb"), chaos.NewRand(7, "dynamodb")
	for range 100 {
		d := r1.Duration(rg)
		if d < rg.Min || d > rg.Max || d != r2.Duration(rg) {
			t.Fatalf("Duration(%v) = %v: out of range or not reproducible", rg, d)
		}
	}
}

// A ClientRequestToken is remembered for IdempotencyWindow, as DynamoDB
// remembers it: a resend within it answers the first call's success without
// applying it again; one after it is a new transaction.
func TestIdempotencyWindow(t *testing.T) {
	ctx := context.Background()
	p, client := proxied(t, chaos.Profile{})
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p.SetNow(func() time.Time { return now })
	add := func() error {
		_, err := client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			ClientRequestToken: aws.String("token-1"),
			TransactItems: []types.TransactWriteItem{{Update: &types.Update{
				TableName: aws.String(table), Key: key("counter"),
				UpdateExpression:          aws.String("ADD n :one"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
			}}},
		})
		return err
	}
	counter := func() string {
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("counter"), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := out.Item["n"].(*types.AttributeValueMemberN)
		if n == nil {
			return ""
		}
		return n.Value
	}
	steps := []struct {
		name  string
		after time.Duration // since the step before
		want  string
	}{
		{"first call", 0, "1"},
		{"resent at once", 0, "1"},
		{"resent just inside the window", chaos.IdempotencyWindow - time.Second, "1"},
		{"resent after the window", 2 * time.Second, "2"},
		{"resent at once after that", 0, "2"},
	}
	for _, step := range steps {
		now = now.Add(step.after)
		if err := add(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := counter(); got != step.want {
			t.Errorf("%s: counter %s, want %s", step.name, got, step.want)
		}
	}
}
