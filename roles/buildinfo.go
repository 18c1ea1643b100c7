package roles

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build says what was built: the module version, and the VCS revision and
// time when the binary was built from a checkout.
type Build struct {
	Version, Revision, Time, GoVersion string
	Modified                           bool
}

// BuildInfo reads the binary's build information.
func BuildInfo() Build {
	b := Build{Version: "(devel)", Revision: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = info.GoVersion
	if v := info.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one line `riskgate --version` prints.
func (b Build) String() string {
	s := b.Version + " (revision " + b.Revision
	if b.Modified {
		s += ", modified"
	}
	if b.Time != "" {
		s += ", " + b.Time
	}
	return s + ", " + b.GoVersion + ")"
}

// BuildInfoCollector is the riskgate_build_info gauge: always 1, with the
// build in its labels, so dashboards can tell which version runs where.
func BuildInfoCollector() prometheus.Collector {
	b := BuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "riskgate_build_info",
		Help: "Always 1; labels say which riskgate build runs.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}
