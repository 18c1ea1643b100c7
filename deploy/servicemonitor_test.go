package deploy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// TestServiceMonitorsScrapeEveryRole follows each role's ServiceMonitor to
// the Service it selects and on to the Deployment's pods: every role is
// scraped once, on the port its ops endpoint listens on, at /metrics, with
// the role as the job label the alerts and the dashboard read.
func TestServiceMonitorsScrapeEveryRole(t *testing.T) {
	objs := manifests(t)
	var monitors []*monitoringv1.ServiceMonitor
	var services []*corev1.Service
	deployments := map[string]*appsv1.Deployment{} // by role
	for _, o := range objs {
		switch v := o.(type) {
		case *monitoringv1.ServiceMonitor:
			monitors = append(monitors, v)
		case *corev1.Service:
			services = append(services, v)
		case *appsv1.Deployment:
			deployments[v.Spec.Template.Labels["app.kubernetes.io/component"]] = v
		}
	}
	scraped := map[string]int{} // role → ServiceMonitors reaching its pods
	for _, m := range monitors {
		t.Run(m.Name, func(t *testing.T) {
			if m.Spec.JobLabel != "app.kubernetes.io/component" {
				t.Errorf("jobLabel %q, want app.kubernetes.io/component (the job label is the role)", m.Spec.JobLabel)
			}
			if len(m.Spec.Selector.MatchExpressions) > 0 || len(m.Spec.Selector.MatchLabels) == 0 {
				t.Fatalf("selector %+v: want matchLabels only", m.Spec.Selector)
			}
			sel := labels.SelectorFromSet(m.Spec.Selector.MatchLabels)
			var svc *corev1.Service
			for _, s := range services {
				if s.Namespace == m.Namespace && sel.Matches(labels.Set(s.Labels)) {
					if svc != nil {
						t.Fatalf("selects Services %s and %s: their pods would be scraped twice", svc.Name, s.Name)
					}
					svc = s
				}
			}
			if svc == nil {
				t.Fatal("selects no Service")
			}
			role := svc.Labels["app.kubernetes.io/component"]
			d := deployments[role]
			if d == nil {
				t.Fatalf("Service %s has job label %q, which is no role's", svc.Name, role)
			}
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Fatalf("Service %s does not select the pods of Deployment %s", svc.Name, d.Name)
			}
			if len(m.Spec.Endpoints) != 1 {
				t.Fatalf("%d endpoints, want 1", len(m.Spec.Endpoints))
			}
			ep := m.Spec.Endpoints[0]
			if ep.Path != "/metrics" {
				t.Errorf("path %q, want /metrics", ep.Path)
			}
			var target string
			for _, p := range svc.Spec.Ports {
				if p.Name == ep.Port {
					target = p.TargetPort.String()
				}
			}
			if target == "" {
				t.Fatalf("endpoint port %q is not a port of Service %s", ep.Port, svc.Name)
			}
			// The container port the Service forwards to is the one the
			// probes use, which TestDeploymentsProbesResourcesAndBudgets
			// ties to --metrics-addr or --addr.
			found := false
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					if p.Name == target || itoa(p.ContainerPort) == target {
						found = p.Name == "http"
					}
				}
			}
			if !found {
				t.Errorf("Service %s targets port %q, not the ops port named http of %s", svc.Name, target, d.Name)
			}
			scraped[role]++
		})
	}
	for _, role := range []string{"router", "detector", "worker", "indexer", "api"} {
		if scraped[role] != 1 {
			t.Errorf("role %s is scraped by %d ServiceMonitors, want 1", role, scraped[role])
		}
	}
}
