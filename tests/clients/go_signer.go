// Go signer driver for tests/test_signer_matrix.py: the AWS SDK for Go v2 (Debian's
// golang-github-aws-aws-sdk-go-v2-dev, built in GOPATH mode with GO111MODULE=off).
//
//	go_signer CASES.json
//
// Performs each case through the proxy in HTTPS_PROXY (over HTTP/2: the transport forces an
// HTTP/2 attempt, and the proxy negotiates it), trusting the CA bundle in MX_CA_BUNDLE,
// against MX_ENDPOINT, with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Every request carries
// the case id in the header x-mx-case. Prints {"version": ...} first, then one JSON line per
// case: {id, status, error, canonical} (canonical: the SDK's own canonical string, from its
// LogSigning output).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sdkVersion is the Debian package's version of the SDK (aws-sdk-go-v2 has no version
// constant in its root package); the test passes it in MX_GO_SDK_VERSION when it knows it.
var sdkVersion = os.Getenv("MX_GO_SDK_VERSION")

type opSpec struct {
	Name   string `json:"name"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Prefix string `json:"prefix"`
	Body   string `json:"body"`
}

type caseSpec struct {
	ID      string `json:"id"`
	Service string `json:"service"`
	Region  string `json:"region"`
	Op      opSpec `json:"op"`
}

type result struct {
	ID        string  `json:"id"`
	Status    *int    `json:"status"`
	Error     *string `json:"error"`
	Canonical *string `json:"canonical"`
}

type canonLog struct {
	mu   sync.Mutex
	last string
}

func (c *canonLog) Logf(_ logging.Classification, format string, v ...interface{}) {
	msg := fmt.Sprintf(format, v...)
	const start = "---[ CANONICAL STRING  ]-----------------------------\n"
	const end = "\n---[ STRING TO SIGN ]"
	if i := strings.Index(msg, start); i >= 0 {
		rest := msg[i+len(start):]
		if j := strings.Index(rest, end); j >= 0 {
			rest = rest[:j]
		}
		c.mu.Lock()
		c.last = rest
		c.mu.Unlock()
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_signer CASES.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var cases []caseSpec
	if err := json.Unmarshal(raw, &cases); err != nil {
		panic(err)
	}
	caPEM, err := os.ReadFile(os.Getenv("MX_CA_BUNDLE"))
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	proxyURL, err := url.Parse(os.Getenv("HTTPS_PROXY"))
	if err != nil {
		panic(err)
	}
	// http.ProxyFromEnvironment never proxies 127.0.0.1: name the proxy explicitly.
	transport := &http.Transport{
		Proxy:             http.ProxyURL(proxyURL),
		TLSClientConfig:   &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}},
		ForceAttemptHTTP2: true,
		IdleConnTimeout:   30 * time.Second,
	}
	httpClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	endpoint := os.Getenv("MX_ENDPOINT")
	resolver := aws.EndpointResolverWithOptionsFunc(
		func(service, region string, _ ...interface{}) (aws.Endpoint, error) {
			return aws.Endpoint{URL: endpoint, SigningRegion: region, Source: aws.EndpointSourceCustom, HostnameImmutable: true}, nil
		})
	canon := &canonLog{}
	current := ""
	tag := func(stack *middleware.Stack) error {
		return stack.Build.Add(middleware.BuildMiddlewareFunc("mxCase",
			func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					req.Header.Set("x-mx-case", current)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
	}
	cfgFor := func(region string) aws.Config {
		return aws.Config{
			Region:                      region,
			Credentials:                 credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
			HTTPClient:                  httpClient,
			EndpointResolverWithOptions: resolver,
			Retryer:                     func() aws.Retryer { return aws.NopRetryer{} },
			Logger:                      canon,
			ClientLogMode:               aws.LogSigning,
			APIOptions:                  []func(*middleware.Stack) error{tag},
		}
	}
	version := "github.com/aws/aws-sdk-go-v2"
	if sdkVersion != "" {
		version += " " + sdkVersion
	}
	enc := json.NewEncoder(os.Stdout)
	_ = enc.Encode(map[string]string{"version": version})
	ctx := context.Background()
	for _, c := range cases {
		current = c.ID
		canon.last = ""
		status, err := runCase(ctx, cfgFor(c.Region), c, httpClient)
		res := result{ID: c.ID}
		if status != 0 {
			res.Status = &status
		}
		if err != nil {
			msg := err.Error()
			if len(msg) > 400 {
				msg = msg[:400]
			}
			res.Error = &msg
			var re *awshttp.ResponseError
			if errors.As(err, &re) {
				s := re.HTTPStatusCode()
				res.Status = &s
			}
		}
		if canon.last != "" {
			s := canon.last
			res.Canonical = &s
		}
		_ = enc.Encode(res)
	}
}

func runCase(ctx context.Context, cfg aws.Config, c caseSpec, hc *http.Client) (int, error) {
	op := c.Op
	s3c := func() *s3.Client {
		return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	}
	var md middleware.Metadata
	switch op.Name {
	case "put_object":
		out, err := s3c().PutObject(ctx, &s3.PutObjectInput{Bucket: &op.Bucket, Key: &op.Key, Body: strings.NewReader(op.Body)})
		if err != nil {
			return 0, err
		}
		md = out.ResultMetadata
	case "get_object":
		out, err := s3c().GetObject(ctx, &s3.GetObjectInput{Bucket: &op.Bucket, Key: &op.Key})
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, out.Body)
		out.Body.Close()
		md = out.ResultMetadata
	case "list_objects_v2":
		out, err := s3c().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &op.Bucket, Prefix: &op.Prefix})
		if err != nil {
			return 0, err
		}
		md = out.ResultMetadata
	case "list_tables":
		out, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			return 0, err
		}
		md = out.ResultMetadata
	case "get_caller_identity":
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return 0, err
		}
		md = out.ResultMetadata
	case "presign_get":
		p, err := s3.NewPresignClient(s3c(), s3.WithPresignExpires(300*time.Second)).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &op.Bucket, Key: &op.Key})
		if err != nil {
			return 0, err
		}
		req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, nil)
		if err != nil {
			return 0, err
		}
		for k, vs := range p.SignedHeader {
			if strings.EqualFold(k, "host") {
				continue
			}
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		req.Header.Set("x-mx-case", c.ID)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	default:
		return 0, fmt.Errorf("unknown op %s", op.Name)
	}
	if raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && raw != nil && raw.Response != nil {
		return raw.StatusCode, nil
	}
	return 200, nil
}
