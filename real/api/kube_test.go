package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
)

// The Kubernetes front door, driven by client-go: the library kubectl,
// controllers and operators use, so what it accepts is what they accept.

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	widgets     = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

func (f *fixture) restConfig(token string) *rest.Config {
	return &rest.Config{Host: f.url, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: f.caPEM}, QPS: -1}
}

func (f *fixture) dynamic(t *testing.T, token string) *dynamic.DynamicClient {
	t.Helper()
	c, err := dynamic.NewForConfig(f.restConfig(token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func object(t *testing.T, js string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	return u
}

const webDeployment = `{"apiVersion": "apps/v1", "kind": "Deployment",
	"metadata": {"name": "web", "labels": {"app": "web"}},
	"spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
		"template": {"metadata": {"labels": {"app": "web"}},
			"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}`

// TestKubeDiscovery: client-go's discovery finds the built-in groups with
// their scopes, a custom kind once its definition is stored, the
// version, and the OpenAPI v3 document kubectl reads to know that the
// server validates fields.
func TestKubeDiscovery(t *testing.T) {
	f := newFixture(t, Limits{})
	dc, err := discovery.NewDiscoveryClientForConfig(f.restConfig(roToken))
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil || v.Major != "1" || v.Minor != "37" {
		t.Fatalf("version: %+v %v", v, err)
	}
	scope := func(gv, plural string) (bool, bool) {
		t.Helper()
		l, err := dc.ServerResourcesForGroupVersion(gv)
		if err != nil {
			return false, false
		}
		for _, r := range l.APIResources {
			if r.Name == plural {
				if !slices.Contains(r.Verbs, "watch") || !slices.Contains(r.Verbs, "patch") {
					t.Errorf("%s %s verbs %v", gv, plural, r.Verbs)
				}
				return true, r.Namespaced
			}
		}
		return false, false
	}
	for _, c := range []struct {
		gv, plural string
		namespaced bool
	}{{"apps/v1", "deployments", true}, {"v1", "namespaces", false}, {"v1", "configmaps", true}, {"rbac.authorization.k8s.io/v1", "clusterroles", false}} {
		if found, ns := scope(c.gv, c.plural); !found || ns != c.namespaced {
			t.Errorf("%s %s: found %v namespaced %v, want namespaced %v", c.gv, c.plural, found, ns, c.namespaced)
		}
	}
	if found, _ := scope("example.com/v1", "widgets"); found {
		t.Fatal("widgets served before their definition")
	}
	dyn := f.dynamic(t, rwToken)
	crd := object(t, `{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": {"name": "widgets.example.com"},
		"spec": {"group": "example.com", "scope": "Namespaced",
			"names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
			"versions": [{"name": "v1", "served": true, "storage": true,
				"schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}`)
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dyn.Resource(crdRes).Create(context.Background(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if found, ns := scope("example.com/v1", "widgets"); !found || !ns {
		t.Fatalf("widgets after their definition: found %v namespaced %v", found, ns)
	}

	root := openapi3.NewRoot(dc.OpenAPIV3())
	doc, err := root.GVSpec(schema.GroupVersion{Group: "apps", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	p := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
	if p == nil || p.Patch == nil {
		t.Fatalf("no PATCH of deployments in the apps/v1 document")
	}
	var gvk map[string]string
	if err := p.Patch.Extensions.GetObject("x-kubernetes-group-version-kind", &gvk); err != nil || gvk["kind"] != "Deployment" {
		t.Fatalf("PATCH's group-version-kind: %v %v", gvk, err)
	}
	if !slices.ContainsFunc(p.Patch.Parameters, func(p *spec3.Parameter) bool { return p.Name == "fieldValidation" && p.In == "query" }) {
		t.Fatal("PATCH without the fieldValidation parameter")
	}
	if _, err := root.GVSpec(schema.GroupVersion{Group: "example.com", Version: "v1"}); err != nil {
		t.Fatalf("the custom group's document: %v", err)
	}
}

// TestKubeVerbs drives create, get, list, update, the four patch types,
// delete and their errors through client-go's dynamic client, as
// controllers and kubectl do.
func TestKubeVerbs(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	dyn := f.dynamic(t, rwToken)
	deps := dyn.Resource(deployments).Namespace("default")

	created, err := deps.Create(ctx, object(t, webDeployment), metav1.CreateOptions{FieldManager: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetResourceVersion() != "1" || created.GetCreationTimestamp().Time.IsZero() || created.GetNamespace() != "default" {
		t.Fatalf("created: rv %q, created %v, namespace %q", created.GetResourceVersion(), created.GetCreationTimestamp(), created.GetNamespace())
	}
	if mf := created.GetManagedFields(); len(mf) != 1 || mf[0].Manager != "test" || mf[0].Operation != metav1.ManagedFieldsOperationUpdate {
		t.Fatalf("managed fields: %+v", mf)
	}
	if _, err := deps.Create(ctx, object(t, webDeployment), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	got, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || got.GetResourceVersion() != "1" {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, err := deps.Get(ctx, "nosuch", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get of nothing: %v, want NotFound", err)
	}

	// An update naming the revision it read; again with that stale one.
	unstructured.SetNestedField(got.Object, int64(5), "spec", "replicas")
	updated, err := deps.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil || updated.GetResourceVersion() != "2" {
		t.Fatalf("update: %v %v", updated, err)
	}
	if _, err := deps.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want Conflict", err)
	}
	if ts := updated.GetCreationTimestamp(); !ts.Time.Equal(created.GetCreationTimestamp().Time) {
		t.Fatalf("creationTimestamp changed by an update: %v → %v", created.GetCreationTimestamp(), ts)
	}

	// A strategic merge patch merges containers by name.
	smp := `{"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}}`
	patched, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(smp), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(patched.Object, "spec", "template", "spec", "containers")
	if len(containers) != 2 {
		t.Fatalf("after a strategic merge patch: %d containers, want 2 (merged by name): %v", len(containers), containers)
	}
	// A JSON merge patch replaces the list.
	patched, err = deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if containers, _, _ = unstructured.NestedSlice(patched.Object, "spec", "template", "spec", "containers"); len(containers) != 1 {
		t.Fatalf("after a merge patch: %v", containers)
	}
	// A JSON patch, and one whose test fails.
	if _, err := deps.Patch(ctx, "web", types.JSONPatchType, []byte(`[{"op": "replace", "path": "/spec/replicas", "value": 7}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Patch(ctx, "web", types.JSONPatchType, []byte(`[{"op": "test", "path": "/spec/replicas", "value": 1}]`), metav1.PatchOptions{}); !apierrors.IsBadRequest(err) {
		t.Fatalf("a failing JSON patch: %v, want BadRequest", err)
	}
	// A patch naming a stale resourceVersion is a conflict.
	if _, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}`), metav1.PatchOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale patch: %v, want Conflict", err)
	}
	if _, err := deps.Patch(ctx, "nosuch", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("patch of nothing: %v, want NotFound", err)
	}

	// 422 naming the field.
	bad := object(t, strings.Replace(webDeployment, `"name": "web"`, `"name": "Web_Bad"`, 1))
	_, err = deps.Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("bad name: %v, want Invalid", err)
	}
	if se := err.(apierrors.APIStatus).Status(); se.Details == nil || len(se.Details.Causes) != 1 || se.Details.Causes[0].Field != "metadata.name" {
		t.Fatalf("bad name's causes: %+v", se.Details)
	}

	// Lists: by label, by field, across namespaces.
	cms := dyn.Resource(configMaps)
	for _, c := range []struct{ ns, name, tier string }{{"a", "one", "front"}, {"a", "two", "back"}, {"b", "three", "front"}} {
		cm := object(t, `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "`+c.name+`", "labels": {"tier": "`+c.tier+`"}}, "data": {"k": "v"}}`)
		if _, err := cms.Namespace(c.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(l *unstructured.UnstructuredList, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range l.Items {
			out = append(out, it.GetNamespace()+"/"+it.GetName())
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		ns   string
		opts metav1.ListOptions
		want string
	}{
		{"", metav1.ListOptions{}, "a/one a/two b/three"},
		{"a", metav1.ListOptions{}, "a/one a/two"},
		{"", metav1.ListOptions{LabelSelector: "tier=front"}, "a/one b/three"},
		{"a", metav1.ListOptions{FieldSelector: "metadata.name=two"}, "a/two"},
		{"", metav1.ListOptions{ResourceVersion: "0"}, "a/one a/two b/three"}, // a local read
	} {
		if got := names(cms.Namespace(c.ns).List(ctx, c.opts)); got != c.want {
			t.Errorf("list %q %+v: %q, want %q", c.ns, c.opts, got, c.want)
		}
	}
	if _, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "spec.x=y"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("an unsupported field selector: %v, want BadRequest", err)
	}

	// Deletes: with a stale precondition, then for real, then again.
	stale := "1"
	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with a stale precondition: %v, want Conflict", err)
	}
	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("second delete: %v, want NotFound", err)
	}
}

// TestKubeServerSideApply: server-side apply creates, merges, records
// owners, and refuses to take a field another manager owns unless forced.
func TestKubeServerSideApply(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	deps := f.dynamic(t, rwToken).Resource(deployments).Namespace("default")
	apply := func(manager string, force bool, js string) (*unstructured.Unstructured, error) {
		return deps.Apply(ctx, "web", object(t, js), metav1.ApplyOptions{FieldManager: manager, Force: force})
	}
	created, err := apply("alice", false, webDeployment)
	if err != nil {
		t.Fatal(err)
	}
	if mf := created.GetManagedFields(); len(mf) != 1 || mf[0].Manager != "alice" || mf[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managed fields after the first apply: %+v", mf)
	}
	bob := `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 9}}`
	_, err = apply("bob", false, bob)
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), ".spec.replicas") {
		t.Fatalf("bob takes alice's replicas: %v, want a Conflict naming .spec.replicas", err)
	}
	forced, err := apply("bob", true, bob)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(forced.Object, "spec", "replicas"); n != 9 {
		t.Fatalf("replicas after a forced apply: %d", n)
	}
	// Carol adds a container of her own: containers merge by name (the
	// built-in schema; a schema-less merge would make the list alice's
	// alone, and this a conflict), and alice's stays.
	carol := `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
		"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox"}]}}}}`
	after, err := apply("carol", false, carol)
	if err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(after.Object, "spec", "template", "spec", "containers")
	n, _, _ := unstructured.NestedInt64(after.Object, "spec", "replicas")
	if len(containers) != 2 || n != 9 {
		t.Fatalf("after carol's apply: %d containers, replicas %d", len(containers), n)
	}
	if _, err := deps.Patch(ctx, "web", types.ApplyPatchType, []byte(bob), metav1.PatchOptions{}); !apierrors.IsBadRequest(err) {
		t.Fatalf("an apply without a field manager: %v, want BadRequest", err)
	}
}

// TestKubeWatch: a watch from a list's resourceVersion sees additions,
// changes and deletions in order; from 0 it starts with what is held;
// from a compacted revision it gets 410 Expired.
func TestKubeWatch(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	cms := f.dynamic(t, rwToken).Resource(configMaps).Namespace("default")
	cm := func(data string) *unstructured.Unstructured {
		return object(t, `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "live"}, "data": {"k": "`+data+`"}}`)
	}
	if _, err := cms.Create(ctx, object(t, `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}}`), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	from0, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer from0.Stop()
	next := func(w kwatch.Interface) string {
		t.Helper()
		select {
		case ev := <-w.ResultChan():
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				return string(ev.Type) + " " + ev.Object.GetObjectKind().GroupVersionKind().Kind
			}
			d, _, _ := unstructured.NestedString(u.Object, "data", "k")
			return string(ev.Type) + " " + u.GetName() + " " + d + " rv" + u.GetResourceVersion()
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event in 10 s")
			return ""
		}
	}
	if got := next(from0); got != "ADDED old  rv1" {
		t.Fatalf("watch from 0: %q", got)
	}
	if _, err := cms.Create(ctx, cm("a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx, "live", types.MergePatchType, []byte(`{"data": {"k": "b"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ADDED live a rv2", "MODIFIED live b rv3", "DELETED live b rv4"} {
		if got := next(w); got != want {
			t.Fatalf("watch: %q, want %q", got, want)
		}
		if got := next(from0); got != want {
			t.Fatalf("watch from 0: %q, want %q", got, want)
		}
	}
	if err := f.b.Compact(ctx, 4); err != nil {
		t.Fatal(err)
	}
	gone, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Stop()
	ev := <-gone.ResultChan()
	if st, ok := ev.Object.(*metav1.Status); ev.Type != kwatch.Error || !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("watch from a compacted revision: %v %+v", ev.Type, ev.Object)
	}
}

// TestKubeTable: kubectl's Accept for a Table gets the kind's columns and
// rows carrying each object's metadata.
func TestKubeTable(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	if _, err := f.dynamic(t, rwToken).Resource(deployments).Namespace("default").Create(ctx, object(t, webDeployment), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.url+"/apis/apps/v1/namespaces/default/deployments?limit=500", nil)
	req.Header.Set("Authorization", "Bearer "+roToken)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
	resp, err := rawClient(t, f).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil || table.Kind != "Table" {
		t.Fatalf("table: %v %+v", err, table)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if got := strings.Join(cols, " "); got != "Name Ready Up-to-date Available Age Containers Images" {
		t.Fatalf("columns: %q", got)
	}
	if len(table.Rows) != 1 || table.Rows[0].Cells[0] != "web" || table.Rows[0].Cells[1] != "0/3" {
		t.Fatalf("rows: %+v", table.Rows)
	}
	var meta metav1.PartialObjectMetadata
	if err := json.Unmarshal(table.Rows[0].Object.Raw, &meta); err != nil || meta.Namespace != "default" || meta.Labels["app"] != "web" {
		t.Fatalf("row object: %v %+v", err, meta)
	}
}

// TestKubeRefusals: no credentials 401, a read-only identity writing 403,
// a dry run refused, a body too large 413, a patch type a kind cannot take
// 415, names that are no names; none of them stores anything.
func TestKubeRefusals(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	create := func(token string, opts metav1.CreateOptions, js string) error {
		_, err := f.dynamic(t, token).Resource(deployments).Namespace("default").Create(ctx, object(t, js), opts)
		return err
	}
	if err := create("", metav1.CreateOptions{}, webDeployment); !apierrors.IsUnauthorized(err) {
		t.Fatalf("no credentials: %v, want Unauthorized", err)
	}
	if err := create(roToken, metav1.CreateOptions{}, webDeployment); !apierrors.IsForbidden(err) {
		t.Fatalf("a read-only identity creating: %v, want Forbidden", err)
	}
	if err := create(rwToken, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}, webDeployment); !apierrors.IsBadRequest(err) {
		t.Fatalf("a dry run: %v, want BadRequest", err)
	}
	if err := create(rwToken, metav1.CreateOptions{}, strings.Replace(webDeployment, `"kind": "Deployment"`, `"kind": "StatefulSet"`, 1)); !apierrors.IsBadRequest(err) {
		t.Fatalf("a StatefulSet posted to deployments: %v, want BadRequest", err)
	}
	huge := `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"}, "data": {"k": "` + strings.Repeat("x", 5<<20) + `"}}`
	if _, err := f.dynamic(t, rwToken).Resource(configMaps).Namespace("default").Create(ctx, object(t, huge), metav1.CreateOptions{}); !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("a body too large: %v, want RequestEntityTooLarge", err)
	}
	hc := rawClient(t, f)
	for _, c := range []struct {
		method, path, ctype, body string
		code                      int
	}{
		{"PATCH", "/apis/apps/v1/namespaces/default/deployments/web", "application/xml", "<x/>", http.StatusUnsupportedMediaType},
		{"POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", "{not json", http.StatusBadRequest},
		{"GET", "/apis/apps/v1/namespaces/default/deployments/..", "", "", http.StatusNotFound},
		{"GET", "/apis/apps/v1/namespaces/default/deployments/a%2Fb", "", "", http.StatusNotFound},
		{"GET", "/apis/apps/v1/namespaces/default/nosuchkinds", "", "", http.StatusNotFound},
		{"GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", "", "", http.StatusNotFound},
		{"DELETE", "/apis/apps/v1/namespaces/default/deployments", "", "", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(c.method, f.url+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+rwToken)
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != c.code || err != nil || st.Kind != "Status" || int(st.Code) != c.code {
			t.Errorf("%s %s: %d %+v %v, want a %d Status", c.method, c.path, resp.StatusCode, st, err, c.code)
		}
	}
	if n := f.b.Counts().Resources; n != 0 {
		t.Fatalf("refused requests stored %d resources", n)
	}
}

// TestKubeNoOpWritesNothing: a patch, an update or a server-side apply
// that changes nothing writes nothing — no new resourceVersion, no watch event — as
// kube-apiserver; one that changes something does.
func TestKubeNoOpWritesNothing(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	deps := f.dynamic(t, rwToken).Resource(deployments).Namespace("default")
	first, err := deps.Apply(ctx, "web", object(t, webDeployment), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := deps.Apply(ctx, "web", object(t, webDeployment), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil || again.GetResourceVersion() != first.GetResourceVersion() {
		t.Fatalf("the same apply again: rv %s → %s, %v", first.GetResourceVersion(), again.GetResourceVersion(), err)
	}
	same, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec": {"replicas": 3}}`), metav1.PatchOptions{})
	if err != nil || same.GetResourceVersion() != first.GetResourceVersion() {
		t.Fatalf("a merge patch of what is there: rv %s → %s, %v", first.GetResourceVersion(), same.GetResourceVersion(), err)
	}
	if put, err := deps.Update(ctx, same, metav1.UpdateOptions{}); err != nil || put.GetResourceVersion() != first.GetResourceVersion() {
		t.Fatalf("an update to what is there: rv %s → %s, %v", first.GetResourceVersion(), put.GetResourceVersion(), err)
	}
	changed, err := deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec": {"replicas": 4}}`), metav1.PatchOptions{})
	if err != nil || changed.GetResourceVersion() == first.GetResourceVersion() {
		t.Fatalf("a merge patch that changes replicas: rv %s → %s, %v", first.GetResourceVersion(), changed.GetResourceVersion(), err)
	}
	if n := f.b.Counts().Resources; n != 1 {
		t.Fatalf("%d resources", n)
	}
}

// TestKubeKeepsLargeIntegers: a patch of a custom resource keeps an
// integer past 2^53 exact, and an update that changes it by one is a
// change, not a no-op (it was read as a float64, rounded, before).
func TestKubeKeepsLargeIntegers(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	dyn := f.dynamic(t, rwToken)
	crd := object(t, `{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": {"name": "widgets.example.com"},
		"spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
			"versions": [{"name": "v1", "served": true, "storage": true}]}}`)
	if _, err := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).
		Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ws := dyn.Resource(widgets).Namespace("default")
	if _, err := ws.Create(ctx, object(t, `{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"n": 9007199254740993}}`), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := ws.Patch(ctx, "w", types.MergePatchType, []byte(`{"metadata": {"labels": {"a": "b"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "n"); n != 9007199254740993 {
		t.Fatalf("after a patch of labels: spec.n %d", n)
	}
	unstructured.SetNestedField(got.Object, int64(9007199254740992), "spec", "n")
	up, err := ws.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil || up.GetResourceVersion() == got.GetResourceVersion() {
		t.Fatalf("an update of spec.n by one: rv %s → %s, %v", got.GetResourceVersion(), up.GetResourceVersion(), err)
	}
}
