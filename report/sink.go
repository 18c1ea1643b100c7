package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// KeyPrefix is where a day's files go: reports/YYYY/MM/DD/. One prefix per
// day lets lifecycle rules, Object Lock retention and audits address a
// year, a month or a day with a plain prefix.
func KeyPrefix(date string) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return "reports/" + date + "/"
	}
	return d.Format("reports/2006/01/02/")
}

// Sink stores a report's files.
type Sink interface {
	// Put stores one file under key (slash-separated).
	Put(ctx context.Context, key string, f File) error
	// Where names the place key lands, for logs.
	Where(key string) string
}

// Write renders r and stores its files in s under KeyPrefix. It returns the
// keys written.
func Write(ctx context.Context, s Sink, r *Report) ([]string, error) {
	files, err := r.Files()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, f := range files {
		key := KeyPrefix(r.Date) + f.Name
		if err := s.Put(ctx, key, f); err != nil {
			return keys, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// DirSink writes files under a local directory.
type DirSink struct {
	Dir string
}

// Put implements Sink: write to a temporary file, then rename, so a reader
// never sees half a report.
func (d DirSink) Put(_ context.Context, key string, f File) error {
	p := filepath.Join(d.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create report directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".report-*")
	if err != nil {
		return fmt.Errorf("write report %s: %w", p, err)
	}
	_, werr := tmp.Write(f.Body)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report %s: %w", p, firstErr(werr, cerr))
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report %s: %w", p, err)
	}
	return nil
}

// Where implements Sink.
func (d DirSink) Where(key string) string { return filepath.Join(d.Dir, filepath.FromSlash(key)) }

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// S3Putter is the one S3 call a sink makes (an *s3.Client has it). A
// report's files are a few megabytes at most, so one PutObject each is
// right: no multipart upload to leave behind half done.
type S3Putter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3Sink uploads files to an S3 bucket (any S3-compatible store).
type S3Sink struct {
	// Client sends the objects.
	Client S3Putter
	Bucket string
	// Prefix goes before KeyPrefix, e.g. "prod/". Default none.
	Prefix string
	// SSE is the server-side encryption, e.g. types.ServerSideEncryptionAes256
	// or "aws:kms". Default none (the bucket's default applies).
	SSE types.ServerSideEncryption
	// KMSKeyID is the KMS key for SSE "aws:kms".
	KMSKeyID string
}

// NewS3Sink builds a sink on an S3 client.
func NewS3Sink(c S3Putter, bucket, prefix string) *S3Sink {
	return &S3Sink{Client: c, Bucket: bucket, Prefix: prefix}
}

func (s *S3Sink) key(key string) string {
	p := strings.Trim(s.Prefix, "/")
	if p == "" {
		return key
	}
	return path.Join(p, key)
}

// Put implements Sink.
func (s *S3Sink) Put(ctx context.Context, key string, f File) error {
	in := &s3.PutObjectInput{
		Bucket:       aws.String(s.Bucket),
		Key:          aws.String(s.key(key)),
		Body:         bytes.NewReader(f.Body),
		ContentType:  aws.String(f.ContentType),
		CacheControl: aws.String("no-cache"),
		Metadata:     map[string]string{"generator": "riskgate"},
	}
	if s.SSE != "" {
		in.ServerSideEncryption = s.SSE
		if s.KMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(s.KMSKeyID)
		}
	}
	if _, err := s.Client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("upload report to s3://%s/%s: %w", s.Bucket, s.key(key), err)
	}
	return nil
}

// Where implements Sink.
func (s *S3Sink) Where(key string) string { return "s3://" + s.Bucket + "/" + s.key(key) }

// NextRun is the first time at or after now when a daily run at hh:mm (in
// loc) is due.
func NextRun(now time.Time, hh, mm int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	n := now.In(loc)
	t := time.Date(n.Year(), n.Month(), n.Day(), hh, mm, 0, 0, loc)
	if t.Before(n) {
		t = time.Date(n.Year(), n.Month(), n.Day()+1, hh, mm, 0, 0, loc)
	}
	return t
}
