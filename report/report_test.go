package report_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/report"
)

// loadDay indexes the recorded day testdata/day-2026-03-10.jsonl (commands,
// states and audit records as they appear on their topics) into a fresh
// SQLite audit index.
func loadDay(t testing.TB) index.Index {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "day-2026-03-10.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b index.Batch
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Topic     string          `json:"topic"`
			Partition int32           `json:"partition"`
			Offset    int64           `json:"offset"`
			Value     json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		pos := index.Pos{Partition: rec.Partition, Offset: rec.Offset}
		switch rec.Topic {
		case domain.TopicAudit:
			var a domain.AuditRecord
			mustJSON(t, rec.Value, &a)
			b.Audit = append(b.Audit, index.AuditEntry{Pos: pos, Record: a})
		case domain.TopicCommands:
			var c domain.Command
			mustJSON(t, rec.Value, &c)
			b.Commands = append(b.Commands, index.CommandEntry{Pos: pos, Command: c})
		case domain.TopicState:
			s, err := domain.DecodeState(rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			b.States = append(b.States, index.StateEntry{Pos: pos, State: s})
		default:
			t.Fatalf("unexpected topic %s", rec.Topic)
		}
		b.Advance(rec.Topic, rec.Partition, rec.Offset+1)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(filepath.Join(t.TempDir(), "index.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return db
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func buildDay(t testing.TB) *report.Report {
	t.Helper()
	db := loadDay(t)
	day, err := report.ParseDate("2026-03-10", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 11, 0, 15, 0, 0, time.UTC) }
	r, err := report.Build(context.Background(), db, day, report.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBuildRecordedDay(t *testing.T) {
	r := buildDay(t)
	if r.TotalKills != 4 {
		t.Errorf("total kills %d, want 4 (ACCOUNT:12345, SYMBOL:TSLA, GLOBAL, STRATEGY:ALGO_X)", r.TotalKills)
	}
	if r.TotalDrops != 97 {
		t.Errorf("total drops %d, want 97", r.TotalDrops)
	}
	if r.UnattributedDrops != 2 {
		t.Errorf("unattributed drops %d, want 2", r.UnattributedDrops)
	}
	type want struct {
		scope                  domain.Scope
		trigger                domain.Trigger
		by, reason             string
		duration               time.Duration
		drops                  int64
		ongoing, startedBefore bool
	}
	wants := []want{
		{"ACCOUNT:777", domain.TriggerDetector, "detector", "order_count 1m 180 > 100", 5 * time.Minute, 12, false, true},
		{"ACCOUNT:12345", domain.TriggerDetector, "detector", "order_count 1m 142 > 100", 12*time.Minute + 30*time.Second, 40, false, false},
		{"SYMBOL:TSLA", domain.TriggerOperator, "bob", "halt pending news <embargo>", 20 * time.Minute, 25, false, false},
		{"GLOBAL", domain.TriggerOperator, "carol", "exchange connectivity incident", 2 * time.Minute, 10, false, false},
		{"STRATEGY:ALGO_X", domain.TriggerDetector, "detector", "notional 1m 1.4M > 1M", 5 * time.Minute, 8, true, false},
	}
	if len(r.Kills) != len(wants) {
		t.Fatalf("%d kills, want %d: %+v", len(r.Kills), len(wants), r.Kills)
	}
	for i, w := range wants {
		k := r.Kills[i]
		t.Run(string(w.scope), func(t *testing.T) {
			if k.Scope != w.scope || k.Trigger != w.trigger || k.By != w.by || k.Reason != w.reason {
				t.Errorf("kill %d = %s/%s/%s/%q, want %s/%s/%s/%q", i, k.Scope, k.Trigger, k.By, k.Reason, w.scope, w.trigger, w.by, w.reason)
			}
			if k.Duration != w.duration {
				t.Errorf("duration %v, want %v", k.Duration, w.duration)
			}
			if k.Drops != w.drops {
				t.Errorf("drops %d, want %d", k.Drops, w.drops)
			}
			if k.Ongoing != w.ongoing || k.StartedBefore != w.startedBefore {
				t.Errorf("ongoing=%v startedBefore=%v, want %v %v", k.Ongoing, k.StartedBefore, w.ongoing, w.startedBefore)
			}
		})
	}
	var who []string
	for _, a := range r.OperatorActions {
		who = append(who, a.Operator+":"+string(a.Action))
	}
	wantWho := "alice:PIN alice:UNKILL bob:KILL bob:UNKILL carol:KILL alice:UNKILL dave:UNKILL eve:THROTTLE eve:UNKILL"
	if strings.Join(who, " ") != wantWho {
		t.Errorf("operator actions\n got %s\nwant %s", strings.Join(who, " "), wantWho)
	}
	for _, a := range r.OperatorActions {
		if a.Reason == "" {
			t.Errorf("operator action %s without a reason", a.CmdID)
		}
	}
	// The GLOBAL release was approved through the API; eve's unkill of
	// SYMBOL:GME came from the Web UI; the others predate the field.
	var ids []string
	for _, a := range r.OperatorActions {
		ids = append(ids, a.Operator+":"+string(a.Identity))
	}
	wantIDs := "alice: alice: bob: bob: carol:verified alice:verified dave:verified eve: eve:claimed"
	if strings.Join(ids, " ") != wantIDs {
		t.Errorf("operator identities\n got %s\nwant %s", strings.Join(ids, " "), wantIDs)
	}
	var hours int64
	for _, n := range r.DropsByHour {
		hours += n
	}
	if hours != r.TotalDrops || r.DropsByHour[9] != 40 || r.DropsByHour[23] != 8 {
		t.Errorf("drops by hour %v", r.DropsByHour)
	}
}

func TestReportOfTodayCoversTheDaySoFar(t *testing.T) {
	db := loadDay(t)
	day, _ := report.ParseDate("2026-03-10", nil)
	now := func() time.Time { return time.Date(2026, 3, 10, 11, 10, 0, 0, time.UTC) }
	r, err := report.Build(context.Background(), db, day, report.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var tsla *report.Kill
	for i := range r.Kills {
		if r.Kills[i].Scope == "SYMBOL:TSLA" {
			tsla = &r.Kills[i]
		}
	}
	if tsla == nil || tsla.Duration != 10*time.Minute {
		t.Fatalf("TSLA kill at 11:10 = %+v, want 10m so far", tsla)
	}
}

func TestFilesCSVAndHTML(t *testing.T) {
	r := buildDay(t)
	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]report.File{}
	for _, f := range files {
		byName[f.Name] = f
	}
	for _, tc := range []struct {
		name string
		rows int
		col  string
	}{
		{"riskgate-report-2026-03-10-kills.csv", 1 + 5, "orders_dropped"},
		{"riskgate-report-2026-03-10-operator-actions.csv", 1 + 9, "identity"},
		{"riskgate-report-2026-03-10-summary.csv", 13, "value"},
		{"riskgate-report-2026-03-10-blocks.csv", 1, "limit"},
		{"riskgate-report-2026-03-10-limit-changes.csv", 1, "changes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := byName[tc.name]
			if !ok {
				t.Fatalf("no file %s", tc.name)
			}
			rows, err := csv.NewReader(bytes.NewReader(f.Body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tc.rows {
				t.Errorf("%d rows, want %d", len(rows), tc.rows)
			}
			if !contains(rows[0], tc.col) {
				t.Errorf("header %v lacks %s", rows[0], tc.col)
			}
		})
	}
	html := string(byName["riskgate-report-2026-03-10.html"].Body)
	for _, want := range []string{`<svg`, `id="total-kills">4<`, `id="total-drops">97<`, "halt pending news &lt;embargo&gt;", "carol", "still killed",
		`<td class="identity-claimed">claimed</td>`, `<td class="identity-verified">verified</td>`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", "<embargo>"} {
		if strings.Contains(html, bad) && !strings.Contains(bad, "http") {
			t.Errorf("HTML contains %q", bad)
		}
	}
	if strings.Contains(html, "src=\"http") || strings.Contains(html, "href=\"http") {
		t.Error("HTML fetches from the network")
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCSVNeutralisesFormulas(t *testing.T) {
	r := &report.Report{Date: "2026-01-02", Kills: []report.Kill{{Scope: "GLOBAL", Reason: "=HYPERLINK(\"x\")", By: "+bob"}}}
	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.Name, "-kills.csv") {
			rows, _ := csv.NewReader(bytes.NewReader(f.Body)).ReadAll()
			if got := rows[1][9]; got != "'=HYPERLINK(\"x\")" {
				t.Errorf("reason cell %q", got)
			}
			if got := rows[1][8]; got != "'+bob" {
				t.Errorf("by cell %q", got)
			}
		}
	}
}

func TestKeyLayoutAndNextRun(t *testing.T) {
	if got := report.KeyPrefix("2026-03-10"); got != "reports/2026/03/10/" {
		t.Errorf("KeyPrefix = %q", got)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	for _, tc := range []struct {
		now    time.Time
		hh, mm int
		loc    *time.Location
		want   time.Time
	}{
		{time.Date(2026, 3, 10, 0, 10, 0, 0, time.UTC), 0, 15, time.UTC, time.Date(2026, 3, 10, 0, 15, 0, 0, time.UTC)},
		{time.Date(2026, 3, 10, 0, 15, 0, 0, time.UTC), 0, 15, time.UTC, time.Date(2026, 3, 10, 0, 15, 0, 0, time.UTC)},
		{time.Date(2026, 3, 10, 0, 16, 0, 0, time.UTC), 0, 15, time.UTC, time.Date(2026, 3, 11, 0, 15, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), 1, 0, time.UTC, time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), 6, 0, ny, time.Date(2026, 3, 11, 6, 0, 0, 0, ny)},
	} {
		if got := report.NextRun(tc.now, tc.hh, tc.mm, tc.loc); !got.Equal(tc.want) {
			t.Errorf("NextRun(%v, %02d:%02d) = %v, want %v", tc.now, tc.hh, tc.mm, got, tc.want)
		}
	}
}

func TestDirSinkWritesDayLayout(t *testing.T) {
	r := buildDay(t)
	dir := t.TempDir()
	keys, err := report.Write(context.Background(), report.DirSink{Dir: dir}, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 7 {
		t.Fatalf("%d files, want 7", len(keys))
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "reports/2026/03/10/riskgate-report-2026-03-10") {
			t.Errorf("key %s outside the day's prefix", k)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(k))); err != nil {
			t.Error(err)
		}
	}
}

// TestS3SinkUploads writes the report to an S3-compatible server running in
// the test process and reads every object back.
func TestS3SinkUploads(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	c := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local"}, nil
		}),
	})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("riskgate-reports")}); err != nil {
		t.Fatal(err)
	}
	r := buildDay(t)
	sink := report.NewS3Sink(c, "riskgate-reports", "prod/")
	keys, err := report.Write(ctx, sink, r)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := r.Files()
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("riskgate-reports"), Prefix: aws.String("prod/reports/2026/03/10/")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range list.Contents {
		got = append(got, *o.Key)
	}
	sort.Strings(got)
	if len(got) != len(keys) {
		t.Fatalf("bucket holds %v, want %d objects", got, len(keys))
	}
	for _, f := range files {
		key := "prod/" + report.KeyPrefix(r.Date) + f.Name
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("riskgate-reports"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.Equal(body, f.Body) {
			t.Errorf("%s: %d bytes back, want %d", key, len(body), len(f.Body))
		}
		if aws.ToString(obj.ContentType) != f.ContentType {
			t.Errorf("%s content type %q, want %q", key, aws.ToString(obj.ContentType), f.ContentType)
		}
	}
	if w := sink.Where(keys[0]); !strings.HasPrefix(w, "s3://riskgate-reports/prod/reports/2026/03/10/") {
		t.Errorf("Where = %s", w)
	}
}

// TestHTMLRendersInChromium renders the recorded day's page in headless
// Chromium and keeps the screenshot in artifacts/report/.
func TestHTMLRendersInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/chromium"); serr != nil {
			t.Skip("chromium is not installed (make browser installs it)")
		}
		chromium = "/usr/bin/chromium"
	}
	r := buildDay(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	art, err := filepath.Abs(filepath.Join("..", "artifacts", "report"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(art, "report-2026-03-10.png")
	os.Remove(shot)
	// Chromium's start-up alone takes 15 s on a loaded 2-core machine.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1100,1500", "--screenshot="+shot, "file://"+page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	st, err := os.Stat(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	if st.Size() < 20_000 {
		t.Errorf("screenshot is %d bytes: the page looks empty", st.Size())
	}
	t.Logf("screenshot %s (%d bytes)", shot, st.Size())
}
