package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/report"
	"github.com/riskgate/riskgate/retry"
)

// reportOptions are the flags of `riskgate report`.
type reportOptions struct {
	date       string
	tz         string
	data       string
	out        string
	bucket     string
	prefix     string
	s3Endpoint string
	pathStyle  bool
	sse        string
	kmsKey     string
	schedule   bool
	at         string
}

func init() {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write the daily regulatory report (kills, drops, operator actions) as HTML and CSV, to a directory or S3",
		Long: `Write one day's regulatory report: every kill activation with its scope, trigger, reason,
duration and the orders dropped while it held; total kills and drops; every operator action
with who and why. The report is built from the audit index (--index sqlite under --data, or
--index dynamodb) and written as an HTML page with a timeline chart, three CSV files and JSON,
under reports/YYYY/MM/DD/ in --out or in the S3 bucket --s3-bucket.

--schedule keeps running and writes the previous day's report every day at --at.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReport(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.date, "date", "", "day to report, YYYY-MM-DD (default: yesterday in --tz)")
	f.StringVar(&o.tz, "tz", envOr("RISKGATE_REPORT_TZ", "UTC"), "time zone of the day, e.g. America/New_York (env RISKGATE_REPORT_TZ)")
	f.StringVar(&o.data, "data", envOr("RISKGATE_DATA", "./data"), "data directory of the SQLite audit index (env RISKGATE_DATA)")
	f.StringVar(&o.out, "out", envOr("RISKGATE_REPORT_DIR", "./reports"), "directory to write to when no S3 bucket is given (env RISKGATE_REPORT_DIR)")
	f.StringVar(&o.bucket, "s3-bucket", envOr("RISKGATE_REPORT_BUCKET", ""), "S3 bucket to upload to instead of --out (env RISKGATE_REPORT_BUCKET)")
	f.StringVar(&o.prefix, "s3-prefix", envOr("RISKGATE_REPORT_PREFIX", ""), "key prefix before reports/YYYY/MM/DD/ (env RISKGATE_REPORT_PREFIX)")
	f.StringVar(&o.s3Endpoint, "s3-endpoint", envOr("RISKGATE_S3_ENDPOINT", ""), "S3-compatible endpoint URL, e.g. MinIO; default AWS (env RISKGATE_S3_ENDPOINT)")
	f.BoolVar(&o.pathStyle, "s3-path-style", envBool("RISKGATE_S3_PATH_STYLE"), "path-style S3 addressing, as most S3-compatible stores need (env RISKGATE_S3_PATH_STYLE)")
	f.StringVar(&o.sse, "s3-sse", envOr("RISKGATE_S3_SSE", ""), "server-side encryption: AES256 or aws:kms (default: the bucket's) (env RISKGATE_S3_SSE)")
	f.StringVar(&o.kmsKey, "s3-kms-key", envOr("RISKGATE_S3_KMS_KEY", ""), "KMS key id for --s3-sse aws:kms (env RISKGATE_S3_KMS_KEY)")
	f.BoolVar(&o.schedule, "schedule", false, "run every day at --at and report the previous day, until stopped")
	f.StringVar(&o.at, "at", envOr("RISKGATE_REPORT_AT", "00:15"), "time of day (in --tz) of the scheduled run, HH:MM (env RISKGATE_REPORT_AT)")
	root.AddCommand(cmd)
}

func runReport(ctx context.Context, o reportOptions) error {
	log := newLogger("report")
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return fmt.Errorf("--tz %q: %w", o.tz, err)
	}
	sink, err := reportSink(ctx, o)
	if err != nil {
		return err
	}
	idx, err := openIndex(ctx, o.data)
	if err != nil {
		return err
	}
	defer idx.Close()

	one := func(day time.Time) error {
		r, err := report.Build(ctx, idx, day, report.Options{Location: loc})
		if err != nil {
			return err
		}
		keys, err := report.Write(ctx, sink, r)
		if err != nil {
			return err
		}
		log.Info("report written", "date", r.Date, "kills", r.TotalKills, "drops", r.TotalDrops,
			"operator_actions", len(r.OperatorActions), "where", sink.Where(keys[0]), "files", len(keys))
		if r.Truncated {
			log.Warn("report read the most commands it can; some scopes may be missing", "date", r.Date)
		}
		return nil
	}

	if !o.schedule {
		day := time.Now().In(loc).AddDate(0, 0, -1)
		if o.date != "" {
			if day, err = report.ParseDate(o.date, loc); err != nil {
				return err
			}
		}
		return one(day)
	}
	if o.date != "" {
		return errors.New("--date and --schedule exclude each other: a scheduled run reports the previous day")
	}
	var hh, mm int
	if _, err := fmt.Sscanf(o.at, "%d:%d", &hh, &mm); err != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return fmt.Errorf("--at %q: want HH:MM", o.at)
	}
	return scheduleReports(ctx, log, loc, hh, mm, one)
}

// reportRetry is how a failed scheduled run is retried: from a minute to
// ten, with jitter, so a report job on many replicas or after an outage of
// the index does not hammer it in step.
var reportRetry = retry.Policy{Initial: time.Minute, Max: 10 * time.Minute}

// scheduleReports runs one for the previous day at hh:mm every day until
// ctx ends. A failed run is logged and retried (reportRetry) until the next
// day's run is due; each day starts the waits over.
func scheduleReports(ctx context.Context, log *slog.Logger, loc *time.Location, hh, mm int, one func(time.Time) error) error {
	return scheduleReportsWith(ctx, log, loc, hh, mm, one, reportRetry, time.Now)
}

// scheduleReportsWith is scheduleReports with its retry policy and clock
// given, for tests.
func scheduleReportsWith(ctx context.Context, log *slog.Logger, loc *time.Location, hh, mm int, one func(time.Time) error,
	policy retry.Policy, now func() time.Time) error {
	for {
		next := report.NextRun(now(), hh, mm, loc)
		log.Info("next report run", "at", next.Format(time.RFC3339))
		if err := retry.Wait(ctx, next.Sub(now())); err != nil {
			return nil
		}
		day := next.AddDate(0, 0, -1)
		b := policy.New()
		for {
			err := one(day)
			if err == nil {
				break
			}
			wait := b.Next()
			again := now().Add(wait)
			if !again.Before(report.NextRun(next.Add(time.Minute), hh, mm, loc)) {
				log.Error("report run failed; no retry before the next day's run", "date", day.Format(time.DateOnly), "err", err)
				break
			}
			log.Error("report run failed; retrying", "date", day.Format(time.DateOnly), "retry_in", wait.Round(time.Second), "err", err)
			if err := retry.Wait(ctx, wait); err != nil {
				return nil
			}
		}
	}
}

// reportSink is the S3 bucket when one is given, else the directory.
func reportSink(ctx context.Context, o reportOptions) (report.Sink, error) {
	if o.bucket == "" {
		return report.DirSink{Dir: o.out}, nil
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	c := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.s3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.s3Endpoint)
		}
		so.UsePathStyle = o.pathStyle
	})
	s := report.NewS3Sink(c, o.bucket, o.prefix)
	s.SSE = s3types.ServerSideEncryption(o.sse)
	s.KMSKeyID = o.kmsKey
	return s, nil
}
