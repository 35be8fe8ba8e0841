// SPDX-License-Identifier: Apache-2.0

// Command validate checks a rendered Helm chart offline: it splits the
// multi-document YAML and strictly decodes every object into the Kubernetes
// API's own Go type for its apiVersion and kind. An unknown field, a value of
// the wrong type, a duplicated key or a kind this program does not know fails
// the check with the object and the field path. No cluster and no JSON
// schema download are needed, so it runs where only the Go module proxy is
// reachable (kubeconform would need its schemas from the network).
//
//	validate [-json OUT.json] RENDERED.yaml
//
// Prints one line per object validated; exits 1 on the first file with errors
// (after listing all of them).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kinds maps "apiVersion kind" to a constructor of its typed object. A kind
// the chart starts to render must be added here, or the check fails.
var kinds = map[string]func() any{
	"v1 ConfigMap":                                    func() any { return &corev1.ConfigMap{} },
	"v1 PersistentVolumeClaim":                        func() any { return &corev1.PersistentVolumeClaim{} },
	"v1 Secret":                                       func() any { return &corev1.Secret{} },
	"v1 Service":                                      func() any { return &corev1.Service{} },
	"v1 ServiceAccount":                               func() any { return &corev1.ServiceAccount{} },
	"apps/v1 DaemonSet":                               func() any { return &appsv1.DaemonSet{} },
	"apps/v1 Deployment":                              func() any { return &appsv1.Deployment{} },
	"batch/v1 Job":                                    func() any { return &batchv1.Job{} },
	"networking.k8s.io/v1 NetworkPolicy":              func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1 PodDisruptionBudget":                   func() any { return &policyv1.PodDisruptionBudget{} },
	"rbac.authorization.k8s.io/v1 Role":               func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1 RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
	"rbac.authorization.k8s.io/v1 ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1 ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
}

// Helm separates documents with "---" lines, each preceded by a "# Source:" comment.
var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func main() {
	jsonOut := flag.String("json", "", "also write the decoded objects, as a JSON array, to this file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: validate [-json OUT.json] RENDERED.yaml")
		os.Exit(2)
	}
	file := flag.Arg(0)
	raw, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "validate: %v\n", err)
		os.Exit(2)
	}
	var objects []any
	failures := 0
	for i, doc := range separator.Split(string(raw), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj, name, err := decode([]byte(doc))
		if err != nil {
			failures++
			fmt.Printf("FAIL %s document %d%s: %v\n", file, i, source(doc), err)
			continue
		}
		objects = append(objects, obj)
		fmt.Printf("ok   %s\n", name)
	}
	if len(objects) == 0 && failures == 0 {
		fmt.Printf("FAIL %s: no objects\n", file)
		failures++
	}
	if *jsonOut != "" {
		out, err := json.MarshalIndent(objects, "", " ")
		if err == nil {
			err = os.WriteFile(*jsonOut, out, 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "validate: -json: %v\n", err)
			os.Exit(2)
		}
	}
	fmt.Printf("%s: %d objects valid, %d invalid\n", file, len(objects), failures)
	if failures > 0 {
		os.Exit(1)
	}
}

// decode strictly decodes one YAML document into its typed object.
func decode(doc []byte) (any, string, error) {
	// YAMLToJSONStrict refuses duplicate keys, which a plain YAML decode keeps silently.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, "", fmt.Errorf("yaml: %w", err)
	}
	var meta unstructured.Unstructured
	if err := meta.UnmarshalJSON(js); err != nil {
		return nil, "", fmt.Errorf("apiVersion/kind: %w", err)
	}
	key := meta.GetAPIVersion() + " " + meta.GetKind()
	build, known := kinds[key]
	if !known {
		return nil, "", fmt.Errorf("unknown kind %q: the validator has no type for it", key)
	}
	name := fmt.Sprintf("%s %s", key, meta.GetName())
	obj := build()
	// UnmarshalStrict reports unknown and duplicate fields with their full path
	// (e.g. spec.template.spec.containers[0].resources.limts); type errors name
	// the Go struct field and its JSON path.
	strictErrs, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		return nil, name, fmt.Errorf("%s: %w", name, err)
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return nil, name, fmt.Errorf("%s: %s", name, strings.Join(msgs, "; "))
	}
	if problems := checkNames(meta); len(problems) > 0 {
		return nil, name, fmt.Errorf("%s: %s", name, strings.Join(problems, "; "))
	}
	return obj, name, nil
}

// checkNames applies the API server's rules for object names and labels,
// which no decode checks.
func checkNames(meta unstructured.Unstructured) []string {
	var problems []string
	if meta.GetName() == "" {
		problems = append(problems, "metadata.name: empty")
	}
	for _, msg := range validation.IsDNS1123Subdomain(meta.GetName()) {
		problems = append(problems, "metadata.name: "+msg)
	}
	for k, v := range meta.GetLabels() {
		for _, msg := range validation.IsQualifiedName(k) {
			problems = append(problems, fmt.Sprintf("metadata.labels[%q]: %s", k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			problems = append(problems, fmt.Sprintf("metadata.labels[%q]: %s", k, msg))
		}
	}
	return problems
}

func stripComments(doc string) string {
	var b bytes.Buffer
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// source returns " (templates/x.yaml)" from Helm's "# Source:" comment, if any.
func source(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source: "); ok {
			return " (" + s + ")"
		}
	}
	return ""
}
