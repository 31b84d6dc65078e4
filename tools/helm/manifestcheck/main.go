// Command manifestcheck validates rendered Kubernetes manifests offline (`helm template ... |
// manifestcheck`): every document must decode strictly into its client-go type (an unknown or
// misplaced field, a wrong type or a duplicate key fails), and PayPortal's pods must keep the
// chart's promises: non-root, read-only root, no capabilities, no privilege escalation,
// RuntimeDefault seccomp, no service account token, probes on every Deployment, and the ops
// port never outside a ClusterIP Service or behind an Ingress.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	var in io.Reader = os.Stdin
	name := "stdin"
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "manifestcheck:", err)
			os.Exit(2)
		}
		defer f.Close()
		in, name = f, os.Args[1]
	}
	n, problems, err := check(in)
	if err != nil {
		fmt.Fprintf(os.Stderr, "manifestcheck: %s: %v\n", name, err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "manifestcheck: %s: %s\n", name, p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("manifestcheck: %s: %d objects valid\n", name, n)
}

func check(in io.Reader) (int, []string, error) {
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	r := yaml.NewYAMLReader(bufio.NewReader(in))
	var problems []string
	n := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, problems, err
		}
		if isEmpty(doc) {
			continue
		}
		n++
		obj, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			what := "document"
			if gvk != nil {
				what = gvk.Kind
			}
			problems = append(problems, fmt.Sprintf("%s #%d: %v", what, n, err))
			continue
		}
		problems = append(problems, policy(obj)...)
	}
	if n == 0 {
		return 0, nil, errors.New("no manifests")
	}
	return n, problems, nil
}

// isEmpty: a document of comments and blank lines only (Helm leaves them for disabled templates).
func isEmpty(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}

func policy(obj runtime.Object) []string {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		where := "Deployment " + o.Name
		p := podPolicy(where, &o.Spec.Template.Spec)
		for _, c := range o.Spec.Template.Spec.Containers {
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				p = append(p, fmt.Sprintf("%s: container %s lacks a readiness or liveness probe", where, c.Name))
			}
		}
		if o.Spec.Template.Spec.TerminationGracePeriodSeconds == nil {
			p = append(p, where+": no terminationGracePeriodSeconds")
		}
		return p
	case *batchv1.Job:
		return podPolicy("Job "+o.Name, &o.Spec.Template.Spec)
	case *corev1.Service:
		for _, port := range o.Spec.Ports {
			if port.Name == "ops" && o.Spec.Type != "" && o.Spec.Type != corev1.ServiceTypeClusterIP {
				return []string{fmt.Sprintf("Service %s: the ops port in a %s Service", o.Name, o.Spec.Type)}
			}
		}
	case *networkingv1.Ingress:
		var p []string
		for _, rule := range o.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, path := range rule.HTTP.Paths {
				if s := path.Backend.Service; s != nil && s.Port.Name == "ops" {
					p = append(p, fmt.Sprintf("Ingress %s: routes %s to the ops port", o.Name, path.Path))
				}
			}
		}
		return p
	}
	return nil
}

func podPolicy(where string, spec *corev1.PodSpec) []string {
	var p []string
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		p = append(p, where+": automountServiceAccountToken is not false")
	}
	if sc := spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p = append(p, where+": pod seccompProfile is not RuntimeDefault")
	}
	podNonRoot := spec.SecurityContext != nil && isTrue(spec.SecurityContext.RunAsNonRoot)
	for _, c := range spec.Containers {
		in := fmt.Sprintf("%s: container %s", where, c.Name)
		sc := c.SecurityContext
		if sc == nil {
			p = append(p, in+": no securityContext")
			continue
		}
		if !podNonRoot && !isTrue(sc.RunAsNonRoot) {
			p = append(p, in+": runAsNonRoot is not true")
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			p = append(p, in+": readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			p = append(p, in+": allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !dropsAll(sc.Capabilities.Drop) || len(sc.Capabilities.Add) > 0 {
			p = append(p, in+": capabilities do not drop ALL (or add some)")
		}
		if c.Resources.Requests == nil || c.Resources.Limits == nil {
			p = append(p, in+": no resource requests or limits")
		}
	}
	return p
}

func isTrue(b *bool) bool { return b != nil && *b }

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if c == "ALL" {
			return true
		}
	}
	return false
}
