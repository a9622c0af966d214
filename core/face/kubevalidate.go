package face

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
)

// The kubernetes face refuses what kube-apiserver (at ServedRelease, with
// kubectl's default strict field validation) refuses, as far as it can
// without the API server's admission chain:
//
//   - an apiVersion whose group is Kubernetes' own (core, apps, batch, any
//     *.k8s.io, ...) must be one that release serves by default, and the
//     kind one that group version serves (checkServed);
//   - a built-in kind is decoded into its k8s.io/api type strictly: unknown
//     and duplicate fields and wrongly typed values are errors naming the
//     field (checkTyped);
//   - the fields without which the API server refuses the common kinds are
//     required (a Pod's containers, a workload's selector and pod template,
//     a CronJob's schedule, a Service's ports; checkRequired), so a
//     manifest cut short is not stored under its cut name;
//   - an integer literal beyond int64 is an error (see normalNumber), not a
//     float that lost its low digits.
//
// Any other group is a custom resource's: its group must be a DNS subdomain
// with a dot (example.com), as a CustomResourceDefinition's is; its kind may
// not be, in any spelling, a kind a face owns (the store keys resources by
// kind without the group, so a custom Pod would overwrite the built-in
// Pods); and its body is stored as given, since revoada holds no CRD
// schemas. Two custom groups that define one kind share it, for the same
// reason.

// checkServed checks apiVersion and kind against the served kinds.
func checkServed(where, apiVersion, kind string) error {
	ok, known := BuiltinKind(apiVersion, kind)
	if ok {
		return nil
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Version == "" {
		return invalid(where+"apiVersion", "%q is not group/version or version", apiVersion)
	}
	if known {
		msg := fmt.Sprintf("%s does not serve kind %q", apiVersion, kind)
		if at := servedAt(kind); len(at) > 0 {
			msg += fmt.Sprintf(" (%s is served by %s)", kind, strings.Join(at, ", "))
		}
		return invalid(where+"kind", "%s", msg)
	}
	if builtinGroup(gv.Group) {
		return invalid(where+"apiVersion", "%q is not served by Kubernetes %s (it serves %s)", apiVersion, ServedRelease, strings.Join(servedVersions(gv.Group), ", "))
	}
	if !strings.Contains(gv.Group, ".") {
		return invalid(where+"apiVersion", "%q names no API group Kubernetes serves; a custom resource's group is a DNS name with a dot (example.com/v1)", apiVersion)
	}
	if err := checkOwnKind(where+"kind", kind, "a custom resource"); err != nil {
		return err
	}
	if err := checkDNSSubdomain(gv.Group); err != nil {
		return invalid(where+"apiVersion", "group: %v", err)
	}
	if err := checkDNSLabel(gv.Version, 63); err != nil {
		return invalid(where+"apiVersion", "version: %v", err)
	}
	return nil
}

// builtinGroup reports whether group belongs to Kubernetes itself: a group
// it serves at some version, extensions, or any group under k8s.io (reserved
// for the project's own APIs).
func builtinGroup(group string) bool {
	if group == "" || group == "extensions" || group == "k8s.io" || strings.HasSuffix(group, ".k8s.io") {
		return true
	}
	for gv := range builtinKinds {
		if g, _, ok := strings.Cut(gv, "/"); ok && g == group {
			return true
		}
	}
	return false
}

// servedVersions lists the served apiVersions of group, sorted.
func servedVersions(group string) []string {
	var out []string
	for gv := range builtinKinds {
		g, _, ok := strings.Cut(gv, "/")
		if !ok {
			g = ""
		}
		if g == group {
			out = append(out, gv)
		}
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	slices.Sort(out)
	return out
}

// servedAt lists the apiVersions that serve kind, sorted.
func servedAt(kind string) []string {
	var out []string
	for gv, kinds := range builtinKinds {
		if kinds[kind] {
			out = append(out, gv)
		}
	}
	slices.Sort(out)
	return out
}

// checkTyped decodes a built-in kind's canonical JSON into its k8s.io/api
// type strictly and checks its required fields. Custom kinds pass.
func checkTyped(where, apiVersion, kind string, body map[string]any, payload []byte) error {
	if ok, _ := BuiltinKind(apiVersion, kind); !ok {
		return nil
	}
	if field := nullInList(body, ""); field != "" {
		return invalid(where+field, "null in a list (kubectl's validation refuses it; a typed decode would make it a zero value)")
	}
	obj, err := builtinScheme.New(schema.FromAPIVersionAndKind(apiVersion, kind))
	if err != nil {
		return nil // served from outside k8s.io/api (CustomResourceDefinition, APIService): no type here
	}
	strict, err := kjson.UnmarshalStrict(payload, obj)
	if err != nil {
		// sigs.k8s.io/json's own error types are internal: encoding/json,
		// on this error path only, names the field.
		var te *json.UnmarshalTypeError
		if errors.As(json.Unmarshal(payload, obj), &te) && te.Field != "" {
			return invalid(where+te.Field, "must be %s, not a JSON %s", te.Type, te.Value)
		}
		return invalid(where+"object", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(strict) > 0 {
		return invalid(where+"object", "%s (Kubernetes' strict field validation)", strings.TrimPrefix(strict[0].Error(), "json: "))
	}
	return checkRequired(where, obj)
}

// nullInList returns the path of the first null element of a list in v, in
// sorted key order, or "".
func nullInList(v any, path string) string {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if f := nullInList(x[k], p); f != "" {
				return f
			}
		}
	case []any:
		for i, e := range x {
			p := fmt.Sprintf("%s[%d]", path, i)
			if e == nil {
				return p
			}
			if f := nullInList(e, p); f != "" {
				return f
			}
		}
	}
	return ""
}

// checkRequired checks the fields the API server requires of the common
// kinds.
func checkRequired(where string, obj any) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		return checkPodSpec(where+"spec.", &o.Spec)
	case *corev1.PodTemplate:
		return checkPodSpec(where+"template.spec.", &o.Template.Spec)
	case *corev1.ReplicationController:
		if o.Spec.Template == nil {
			return invalid(where+"spec.template", "required")
		}
		return checkPodSpec(where+"spec.template.spec.", &o.Spec.Template.Spec)
	case *appsv1.Deployment:
		return checkWorkload(where, o.Spec.Selector, &o.Spec.Template)
	case *appsv1.ReplicaSet:
		return checkWorkload(where, o.Spec.Selector, &o.Spec.Template)
	case *appsv1.StatefulSet:
		return checkWorkload(where, o.Spec.Selector, &o.Spec.Template)
	case *appsv1.DaemonSet:
		return checkWorkload(where, o.Spec.Selector, &o.Spec.Template)
	case *batchv1.Job:
		return checkPodSpec(where+"spec.template.spec.", &o.Spec.Template.Spec)
	case *batchv1.CronJob:
		if o.Spec.Schedule == "" {
			return invalid(where+"spec.schedule", "required")
		}
		return checkPodSpec(where+"spec.jobTemplate.spec.template.spec.", &o.Spec.JobTemplate.Spec.Template.Spec)
	case *corev1.Service:
		headless := o.Spec.ClusterIP == corev1.ClusterIPNone
		if len(o.Spec.Ports) == 0 && o.Spec.Type != corev1.ServiceTypeExternalName && !headless {
			return invalid(where+"spec.ports", "required (a Service that is neither headless nor ExternalName has ports)")
		}
	}
	return nil
}

// checkWorkload requires an apps/v1 workload's selector (non-empty) and
// its pod template's containers.
func checkWorkload(where string, selector *metav1.LabelSelector, template *corev1.PodTemplateSpec) error {
	if selector == nil || len(selector.MatchLabels) == 0 && len(selector.MatchExpressions) == 0 {
		return invalid(where+"spec.selector", "required, and not empty")
	}
	return checkPodSpec(where+"spec.template.spec.", &template.Spec)
}

// checkPodSpec requires at least one container, and a name and an image for
// each.
func checkPodSpec(field string, spec *corev1.PodSpec) error {
	if len(spec.Containers) == 0 {
		return invalid(field+"containers", "required: a Pod runs at least one container")
	}
	for _, set := range []struct {
		name string
		cs   []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, c := range set.cs {
			switch {
			case c.Name == "":
				return invalid(fmt.Sprintf("%s%s[%d].name", field, set.name, i), "required")
			case c.Image == "":
				return invalid(fmt.Sprintf("%s%s[%d].image", field, set.name, i), "required")
			}
		}
	}
	return nil
}
