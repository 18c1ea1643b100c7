package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifests decodes every document of deploy/k8s strictly (unknown or
// duplicate fields are errors) into the Kubernetes API types and the
// Prometheus operator's (ServiceMonitor).
func manifests(t *testing.T) []runtime.Object {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	files, err := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	var out []runtime.Object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, _, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s document %d does not decode strictly: %v", f, i, err)
				continue
			}
			out = append(out, obj)
		}
	}
	return out
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs := manifests(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetObjectKind().GroupVersionKind().Kind]++
		if _, ok := o.(*corev1.Secret); ok {
			t.Error("a Secret is committed in deploy/k8s: secrets are created out of band (deploy/README.md)")
		}
	}
	for kind, n := range map[string]int{"Deployment": 5, "PodDisruptionBudget": 5, "ConfigMap": 1, "Service": 1, "CronJob": 1, "Job": 2} {
		if kinds[kind] < n {
			t.Errorf("%d %s, want at least %d (have %v)", kinds[kind], kind, n, kinds)
		}
	}
}

// podSpecs returns every pod template with where it is from.
func podSpecs(objs []runtime.Object) map[string]corev1.PodSpec {
	out := map[string]corev1.PodSpec{}
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+v.Name] = v.Spec.Template.Spec
		case *batchv1.Job:
			out["Job/"+v.Name] = v.Spec.Template.Spec
		case *batchv1.CronJob:
			out["CronJob/"+v.Name] = v.Spec.JobTemplate.Spec.Template.Spec
		}
	}
	return out
}

func TestDeploymentsProbesResourcesAndBudgets(t *testing.T) {
	objs := manifests(t)
	var pdbs []*policyv1.PodDisruptionBudget
	for _, o := range objs {
		if p, ok := o.(*policyv1.PodDisruptionBudget); ok {
			pdbs = append(pdbs, p)
		}
	}
	roles := map[string]bool{}
	for _, o := range objs {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			role := d.Spec.Template.Labels["app.kubernetes.io/component"]
			roles[role] = true
			sel, err := labelsSelector(d)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Error("selector does not match the pod template")
			}
			covered := false
			for _, p := range pdbs {
				if p.Namespace == d.Namespace && p.Spec.Selector != nil && labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
					covered = true
				}
			}
			if !covered {
				t.Error("no PodDisruptionBudget selects its pods")
			}
			if role == "router" && (d.Spec.Replicas == nil || *d.Spec.Replicas < 2) {
				t.Error("the router must run several replicas")
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				checkContainer(t, c)
				switch role {
				case "router", "detector", "worker", "indexer", "api":
					if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
						t.Errorf("container %s: liveness probe should GET /healthz", c.Name)
					}
					if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
						t.Errorf("container %s: readiness probe should GET /readyz", c.Name)
					}
					checkProbePort(t, c)
					checkPreStop(t, c, d.Spec.Template.Spec.TerminationGracePeriodSeconds)
				}
			}
		})
	}
	for _, r := range []string{"router", "detector", "worker", "indexer", "api"} {
		if !roles[r] {
			t.Errorf("no Deployment for role %s", r)
		}
	}
}

// shutdownBound is how long a riskgate process takes at most to exit after
// SIGTERM (README: every process exits within 15 s).
const shutdownBound = 15

// checkPreStop checks that a role pauses before SIGTERM, so Service
// endpoints and Prometheus targets drop the pod first, and that the grace
// period covers the pause and the process's shutdown before SIGKILL. The
// image has no shell or sleep binary, so the pause must be the kubelet's
// sleep action, not an exec.
func checkPreStop(t *testing.T, c corev1.Container, grace *int64) {
	t.Helper()
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Errorf("container %s: no preStop pause before SIGTERM", c.Name)
		return
	}
	ps := c.Lifecycle.PreStop
	if ps.Exec != nil {
		t.Errorf("container %s: preStop runs %v, but the distroless image has no shell or sleep binary", c.Name, ps.Exec.Command)
	}
	if ps.Sleep == nil {
		t.Errorf("container %s: preStop is not a sleep action", c.Name)
		return
	}
	pause := ps.Sleep.Seconds
	if pause < 3 || pause > 15 {
		t.Errorf("container %s: preStop sleeps %d s; want 3 to 15 s (long enough for endpoints to update, short enough not to stall rollouts)", c.Name, pause)
	}
	if grace == nil {
		t.Errorf("container %s: no terminationGracePeriodSeconds", c.Name)
		return
	}
	if *grace < pause+shutdownBound {
		t.Errorf("container %s: terminationGracePeriodSeconds %d does not cover the %d s pause and the %d s shutdown", c.Name, *grace, pause, shutdownBound)
	}
}

func labelsSelector(d *appsv1.Deployment) (labels.Selector, error) {
	if d.Spec.Selector == nil {
		return nil, errors.New("no selector")
	}
	return labels.SelectorFromSet(d.Spec.Selector.MatchLabels), nil
}

// checkProbePort checks that the HTTP probes hit the port the role's
// --metrics-addr or --addr listens on.
func checkProbePort(t *testing.T, c corev1.Container) {
	t.Helper()
	var port int32
	for _, p := range c.Ports {
		if p.Name == "http" {
			port = p.ContainerPort
		}
	}
	if port == 0 {
		t.Errorf("container %s: no port named http", c.Name)
		return
	}
	listen := ""
	for i, a := range c.Args {
		if (a == "--metrics-addr" || a == "--addr") && i+1 < len(c.Args) {
			listen = c.Args[i+1]
		}
	}
	if !strings.HasSuffix(listen, ":"+itoa(port)) {
		t.Errorf("container %s: probes on port %d but it listens on %q", c.Name, port, listen)
	}
}

func itoa(n int32) string {
	var b [12]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// checkContainer checks what every riskgate container needs.
func checkContainer(t *testing.T, c corev1.Container) {
	t.Helper()
	if why := pinnedImage(c.Image); why != "" {
		t.Errorf("container %s image %q: %s", c.Name, c.Image, why)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("container %s: no CPU and memory requests", c.Name)
	}
	if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("container %s: privilege escalation not disabled", c.Name)
	}
}

// TestManifestArgsAndConfigMatchTheBinary checks every container's command
// and every RISKGATE_* setting against `riskgate <command> --help`, and that
// the ConfigMap and Secret they reference are the documented ones.
func TestManifestArgsAndConfigMatchTheBinary(t *testing.T) {
	objs := manifests(t)
	var cm *corev1.ConfigMap
	for _, o := range objs {
		if c, ok := o.(*corev1.ConfigMap); ok && c.Name == "riskgate" {
			cm = c
		}
	}
	if cm == nil {
		t.Fatal("no ConfigMap riskgate")
	}
	var allHelp strings.Builder
	for where, spec := range podSpecs(objs) {
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pods must run as non-root", where)
		}
		for _, c := range spec.Containers {
			checkArgs(t, where, c.Args)
			sub := subcommand(c.Args)
			allHelp.WriteString(help(t, sub))
			for _, e := range c.Env {
				checkEnv(t, where, sub, e.Name)
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != "riskgate" {
					t.Errorf("%s: env %s from Secret %s, want riskgate", where, e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil || ef.ConfigMapRef.Name != cm.Name {
					t.Errorf("%s: envFrom %+v, want the ConfigMap %s", where, ef, cm.Name)
				}
			}
		}
	}
	for k := range cm.Data {
		if strings.HasPrefix(k, "RISKGATE_") && !strings.Contains(allHelp.String(), k) {
			t.Errorf("ConfigMap key %s is read by no riskgate command", k)
		}
	}
}
