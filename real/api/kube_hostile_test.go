package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

// Hostile clients of the Kubernetes front door: requests kubectl would
// never send, or sends in ways the happy path did not expect. Each
// refused request changes nothing in the store.

// kubeDo sends a raw request to the front door as rwToken and answers its
// status and body.
func kubeDo(t *testing.T, f *fixture, hc *http.Client, method, path, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+rwToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return roundTrip(t, hc, req)
}

// withConfigMap is a fixture holding hostileConfigMap (a/c1), with a raw
// client of it.
func withConfigMap(t *testing.T) (*fixture, *http.Client) {
	t.Helper()
	f := newFixture(t, Limits{})
	hc := rawClient(t, f)
	if code, body := kubeDo(t, f, hc, "POST", "/api/v1/namespaces/a/configmaps", "application/json", hostileConfigMap); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	return f, hc
}

// storeRevision is the store's revision: it moves with every write.
func storeRevision(t *testing.T, f *fixture) store.Revision {
	t.Helper()
	l, err := f.b.List(context.Background(), "ConfigMap", "", backend.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Revision
}

const hostileConfigMap = `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "a"}, "data": {"k": "v"}}`

// TestKubeDeleteOptionsInBody: client-go and kubectl send DeleteOptions
// in the body, dryRun among them (kubectl delete --dry-run=server), so a
// dry run there must be refused as one in the query is, not carried out;
// a UID precondition names an object revoada cannot have (its objects
// carry no uid), so it must not be ignored either.
func TestKubeDeleteOptionsInBody(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	cms := f.dynamic(t, rwToken).Resource(configMaps).Namespace("a")
	if _, err := cms.Create(ctx, object(t, hostileConfigMap), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	uid := types.UID("d6f3b7a0-0000-4000-8000-000000000000")
	for _, c := range []struct {
		name string
		opts metav1.DeleteOptions
		want func(error) bool
	}{
		{"dryRun All", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, apierrors.IsBadRequest},
		{"dryRun unknown", metav1.DeleteOptions{DryRun: []string{"Some"}}, apierrors.IsBadRequest},
		{"a uid precondition", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}, apierrors.IsConflict},
	} {
		before := storeRevision(t, f)
		if err := cms.Delete(ctx, "c1", c.opts); !c.want(err) {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := cms.Get(ctx, "c1", metav1.GetOptions{}); err != nil || storeRevision(t, f) != before {
			t.Fatalf("%s: the object after a refused delete: %v, revision %d → %d", c.name, err, before, storeRevision(t, f))
		}
	}
	if err := cms.Delete(ctx, "c1", metav1.DeleteOptions{DryRun: []string{}}); err != nil {
		t.Fatalf("an empty dryRun is no dry run: %v", err)
	}
}

// TestKubeLeavesOtherFacesAlone: a Pod stored by the bare-metal face is
// not the front door's to change: a delete through it is refused before
// anything is deleted, as get, update and patch are.
func TestKubeLeavesOtherFacesAlone(t *testing.T) {
	f := newFixture(t, Limits{})
	hc := rawClient(t, f)
	bm := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bm","namespace":"a"},"spec":{"containers":[{"name":"x","image":"i"}]}}`
	if code, body := send(t, hc, "POST", f.url+"/v1/apply?face=baremetal&format=json", rwToken, strings.NewReader(bm)); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	before := storeRevision(t, f)
	const pod = "/api/v1/namespaces/a/pods/bm"
	for _, c := range []struct{ method, ctype, body string }{
		{"GET", "", ""},
		{"PUT", "application/json", bm},
		{"PATCH", mergePatch, `{}`},
		{"PATCH", applyPatch + "?fieldManager=m", bm},
		{"DELETE", "", ""},
		{"DELETE", "application/json", `{"preconditions": {"resourceVersion": "1"}}`},
	} {
		path, ctype := pod, c.ctype
		if p, q, ok := strings.Cut(c.ctype, "?"); ok {
			path, ctype = pod+"?"+q, p
		}
		code, body := kubeDo(t, f, hc, c.method, path, ctype, c.body)
		if code != http.StatusBadRequest || !strings.Contains(body, "baremetal face") {
			t.Errorf("%s %s: %d %s, want 400 naming the face", c.method, c.ctype, code, body)
		}
		if n, rev := f.b.Counts().Resources, storeRevision(t, f); n != 1 || rev != before {
			t.Fatalf("%s %s changed the store: %d resources, revision %d → %d", c.method, c.ctype, n, before, rev)
		}
	}
}

// TestKubeJSONPatchCopyBounded: each "copy" of a JSON patch may double
// the object, so a patch of a few kilobytes could ask for gigabytes
// before the result's size is checked; copies past the body limit are
// refused as they are made.
func TestKubeJSONPatchCopyBounded(t *testing.T) {
	f, hc := withConfigMap(t)
	// Each copy doubles the annotations: 2^15 × ~100 bytes ≈ 3 MiB
	// (2^40 would be a terabyte).
	ops := []string{`{"op": "add", "path": "/metadata/annotations", "value": {"x": "` + strings.Repeat("x", 100) + `"}}`}
	for i := range 15 {
		ops = append(ops, fmt.Sprintf(`{"op": "copy", "from": "/metadata/annotations", "path": "/metadata/annotations/c%d"}`, i))
	}
	before := storeRevision(t, f)
	code, body := kubeDo(t, f, hc, "PATCH", "/api/v1/namespaces/a/configmaps/c1", jsonPatch, "["+strings.Join(ops, ",")+"]")
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "copies") {
		t.Fatalf("a doubling JSON patch: %d %.300s, want 413 naming the copies", code, body)
	}
	if rev := storeRevision(t, f); rev != before {
		t.Fatalf("a refused patch wrote: revision %d → %d", before, rev)
	}
}

// TestKubeApplyConfigurationOfWrongShape: an apply configuration whose
// fields have the wrong types is the client's mistake, a 4xx naming the
// field, not a 500.
func TestKubeApplyConfigurationOfWrongShape(t *testing.T) {
	f, hc := withConfigMap(t)
	before := storeRevision(t, f)
	for _, c := range []struct{ path, config, field string }{
		{"/api/v1/namespaces/a/configmaps/c1", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"}`, ".metadata"},
		{"/api/v1/namespaces/a/configmaps/c1", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"k": {"deep": 1}}}`, ".data.k"},
		{"/api/v1/namespaces/a/configmaps/new", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}, "data": ["x"]}`, ".data"},
		{"/apis/apps/v1/namespaces/a/deployments/web", `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": "three"}}`, ".spec.replicas"},
	} {
		code, body := kubeDo(t, f, hc, "PATCH", c.path+"?fieldManager=m", applyPatch, c.config)
		var st metav1.Status
		json.Unmarshal([]byte(body), &st)
		if code < 400 || code >= 500 || st.Kind != "Status" || !strings.Contains(st.Message, c.field) {
			t.Errorf("apply %s: %d %.300s, want a 4xx Status naming %s", c.config, code, body, c.field)
		}
	}
	if rev := storeRevision(t, f); rev != before {
		t.Fatalf("refused applies wrote: revision %d → %d", before, rev)
	}
}

// TestKubeResourceVersionOfWrongType: a resourceVersion that is not a
// string is a precondition the client meant and the server cannot read:
// refused, not dropped (which would make the write unconditional).
func TestKubeResourceVersionOfWrongType(t *testing.T) {
	f, hc := withConfigMap(t)
	before := storeRevision(t, f)
	const cm = "/api/v1/namespaces/a/configmaps/c1"
	for _, c := range []struct{ method, ctype, body string }{
		{"PATCH", mergePatch, `{"metadata": {"resourceVersion": 5}, "data": {"k": "w"}}`},
		{"PATCH", mergePatch, `{"metadata": {"resourceVersion": ["1"]}, "data": {"k": "w"}}`},
		{"PATCH", jsonPatch, `[{"op": "add", "path": "/metadata/resourceVersion", "value": 1}]`},
		{"PUT", "application/json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "a", "resourceVersion": 1}, "data": {"k": "w"}}`},
		{"PATCH", applyPatch + "?fieldManager=m", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "resourceVersion": 1}, "data": {"k": "w"}}`},
	} {
		path, ctype := cm, c.ctype
		if p, q, ok := strings.Cut(c.ctype, "?"); ok {
			path, ctype = cm+"?"+q, p
		}
		code, body := kubeDo(t, f, hc, c.method, path, ctype, c.body)
		if code < 400 || code >= 500 || !strings.Contains(body, "resourceVersion") {
			t.Errorf("%s %s %s: %d %.300s, want a 4xx naming resourceVersion", c.method, c.ctype, c.body, code, body)
		}
	}
	if rev := storeRevision(t, f); rev != before {
		t.Fatalf("refused writes wrote: revision %d → %d", before, rev)
	}
}

// TestKubeWatchListInitialEvents: client-go's informers (controllers,
// kubectl wait and rollout status) open a watch with sendInitialEvents
// and wait for the BOOKMARK annotated k8s.io/initial-events-end that
// ends the listing; without it every informer waited 10 s before falling
// back to a list. A resourceVersion the reflector already knows does not
// spare it the listing: it asks for the state not older than it.
func TestKubeWatchListInitialEvents(t *testing.T) {
	f := newFixture(t, Limits{})
	ctx := context.Background()
	cms := f.dynamic(t, rwToken).Resource(configMaps)
	if _, err := cms.Namespace("a").Create(ctx, object(t, hostileConfigMap), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	for _, rv := range []string{"", "1"} {
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true,
			SendInitialEvents: &yes, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < 2 {
			select {
			case ev := <-w.ResultChan():
				m, _ := meta.Accessor(ev.Object)
				got = append(got, fmt.Sprintf("%s %s %s", ev.Type, m.GetName(), m.GetAnnotations()[metav1.InitialEventsAnnotationKey]))
			case <-time.After(5 * time.Second):
				t.Fatalf("rv %q: after %q, no event in 5 s", rv, got)
			}
		}
		w.Stop()
		if want := "ADDED c1 |BOOKMARK  true"; strings.Join(got, "|") != want {
			t.Errorf("rv %q: %q, want %q", rv, strings.Join(got, "|"), want)
		}
	}
}
