package kube_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/kube"
	"revoada.dev/revoada/real/kube/kubetest"
)

// One etcd and kube-apiserver serve the whole test binary (starting one
// takes tens of seconds); each backend gets a scope of its own, so each is
// fresh and empty. The watch cache is off so that an etcd compaction
// answers 410 Gone at once (kubetest's package doc).
var shared struct {
	once    sync.Once
	cluster *kubetest.Cluster
	err     error
	scopes  atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	os.Exit(code)
}

// cluster is the shared cluster; t is skipped without the binaries
// (failed under REVOADA_REQUIRE_KUBE_APISERVER=1).
func cluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("a real etcd and kube-apiserver")
	}
	apiserver, etcd := kubetest.KubeAPIServer(t), kubetest.Etcd(t)
	shared.once.Do(func() {
		start := time.Now()
		shared.cluster, shared.err = kubetest.Launch(apiserver, etcd, kubetest.Options{})
		t.Logf("etcd and kube-apiserver ready in %s", time.Since(start).Round(time.Millisecond))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}

// newBackend is a backend of a fresh scope over the shared cluster.
func newBackend(t *testing.T, opt kube.Options) *kube.Backend {
	t.Helper()
	c := cluster(t)
	if opt.Scope == "" {
		opt.Scope = fmt.Sprintf("t%d-%d", os.Getpid(), shared.scopes.Add(1))
	}
	b, err := kube.New(t.Context(), c.Config, opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformance runs the store's conformance suite against a real
// kube-apiserver (watch cache off) and its etcd, which Compact compacts.
// Restore answers ErrUnsupported (skipped by the suite).
func TestConformance(t *testing.T) {
	c := cluster(t)
	storetest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, kube.Options{Etcd: c.EtcdURL}) })
}

// TestWatchCompacted compacts etcd (Backend.Compact) and checks that a
// watch from a compacted revision fails with store.ErrCompacted (the
// apiserver's 410 Gone), while a watch from the compaction revision, which
// etcd keeps, replays it and what follows.
func TestWatchCompacted(t *testing.T) {
	c := cluster(t)
	b := newBackend(t, kube.Options{Etcd: c.EtcdURL})
	var revs []store.Revision
	for i := range 4 {
		r, err := b.Apply(t.Context(), store.Resource{Ref: store.Ref{Kind: "Blob", Name: fmt.Sprint("b", i)}, Face: "pureraft", Format: store.Native, Payload: []byte{byte(i)}}, store.Expect{})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, r.ModRevision)
	}
	if err := b.Compact(t.Context(), revs[2]); err != nil {
		t.Fatal(err)
	}
	if err := b.Compact(t.Context(), revs[1]); err != nil {
		t.Fatalf("compacting below the compacted revision does nothing, as store.Compact: %v", err)
	}
	if err := b.Compact(t.Context(), revs[3]+1_000_000); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("compacting beyond etcd's revision: %v, want ErrInvalid", err)
	}
	if err := newBackend(t, kube.Options{}).Compact(t.Context(), revs[3]); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("compacting without an etcd URL: %v, want ErrUnsupported", err)
	}
	w, err := b.Watch(t.Context(), "", revs[1])
	if !errors.Is(err, store.ErrCompacted) {
		if w != nil {
			w.Close()
		}
		t.Fatalf("watch from %d after compacting at %d: %v, want ErrCompacted", revs[1], revs[2], err)
	}
	t.Logf("watch from a compacted revision: %v", err)
	w, err = b.Watch(t.Context(), "Blob", revs[2])
	if err != nil {
		t.Fatalf("watch from the compaction revision, which etcd keeps: %v", err)
	}
	defer w.Close()
	for i := 2; i < 4; i++ {
		select {
		case ev := <-w.Events():
			if ev.Type != store.Added || ev.Revision != revs[i] || ev.Resource.Ref.Name != fmt.Sprint("b", i) {
				t.Fatalf("replay after compaction: %s@%d %s, want ADDED@%d Blob/b%d", ev.Type, ev.Revision, ev.Resource.Ref, revs[i], i)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no replayed event: %v", w.Err())
		}
	}
}

// TestUnreachable: a backend over an address nothing listens on fails at
// New with ErrUnreachable, naming the URL.
func TestUnreachable(t *testing.T) {
	url := "https://127.0.0.1:1"
	_, err := kube.New(t.Context(), &rest.Config{Host: url, Timeout: 5 * time.Second}, kube.Options{})
	if !errors.Is(err, kube.ErrUnreachable) || !strings.Contains(err.Error(), url) {
		t.Fatalf("New against %s: %v; want ErrUnreachable naming the URL", url, err)
	}
	t.Log(err)
}

// TestNative: a kubernetes-face ConfigMap is stored as the apiserver's own
// ConfigMap (what kubectl sees), with the store's errors: a stale
// precondition is a ConflictError naming the current revision, a value the
// apiserver refuses is ErrInvalid with its message, a missing object
// ErrNotFound; its watch reports the update and the deletion.
func TestNative(t *testing.T) {
	c := cluster(t)
	b := newBackend(t, kube.Options{Kinds: []string{"ConfigMap"}})
	ctx := t.Context()
	cm := func(v string) store.Resource {
		k, err := face.ByName(face.Kubernetes)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := k.Decode("cm.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: native\n  namespace: kube-native\ndata:\n  v: \""+v+"\"\n"), store.YAML)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	created, err := b.Apply(ctx, cm("1"), store.Expect{Set: true})
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(c.Config)
	obj, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("kube-native").Get(ctx, "native", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the apiserver's own client does not see the ConfigMap: %v", err)
	}
	if v, _, _ := unstructuredString(obj.Object, "data", "v"); v != "1" || obj.GetResourceVersion() != fmt.Sprint(created.ModRevision) {
		t.Fatalf("the apiserver holds data.v %q at %s; applied at %d", v, obj.GetResourceVersion(), created.ModRevision)
	}
	w, err := b.Watch(ctx, "ConfigMap", created.ModRevision+1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	updated, err := b.Apply(ctx, cm("2"), store.Expect{Set: true, Revision: created.ModRevision})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Version != 2 || updated.CreateRevision != created.ModRevision {
		t.Fatalf("updated %+v after %+v", updated, created)
	}
	_, err = b.Apply(ctx, cm("3"), store.Expect{Set: true, Revision: created.ModRevision})
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Current != updated.ModRevision {
		t.Fatalf("a stale precondition: %v, want a ConflictError at %d", err, updated.ModRevision)
	}
	bad := cm("x")
	bad.Payload = []byte(strings.Replace(string(bad.Payload), `"data":{"v":"x"}`, `"data":{"v":"x"},"immutable":"yes"`, 1))
	if _, err := b.Apply(ctx, bad, store.Expect{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a ConfigMap the apiserver refuses: %v, want ErrInvalid", err)
	} else {
		t.Logf("refused: %v", err)
	}
	gone, err := b.Delete(ctx, updated.Ref, store.Expect{Set: true, Revision: updated.ModRevision})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, updated.Ref, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	_, err = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("kube-native").Get(ctx, "native", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the apiserver still holds the deleted ConfigMap: %v", err)
	}
	want := []store.Event{
		{Type: store.Modified, Revision: updated.ModRevision},
		{Type: store.Deleted, Revision: gone.ModRevision},
	}
	for _, we := range want {
		select {
		case ev := <-w.Events():
			if ev.Type != we.Type || ev.Revision != we.Revision || ev.Resource.Ref != updated.Ref {
				t.Fatalf("watch: %s@%d %s, want %s@%d", ev.Type, ev.Revision, ev.Resource.Ref, we.Type, we.Revision)
			}
			if ev.Type == store.Deleted && (ev.Resource.CreateRevision != created.ModRevision || ev.Resource.Version != 2) {
				t.Fatalf("the deletion's resource %+v", ev.Resource)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s event: %v", we.Type, w.Err())
		}
	}
	if _, err := b.Watch(ctx, "", 0); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("watch of every kind with native kinds: %v, want ErrUnsupported", err)
	}
	blob := store.Resource{Ref: store.Ref{Kind: "ConfigMap", Namespace: "x", Name: "y"}, Face: "pureraft", Format: store.Native}
	if _, err := b.Apply(ctx, blob, store.Expect{}); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("a pureraft resource of a native kind: %v, want ErrUnsupported", err)
	}
}

func unstructuredString(m map[string]any, path ...string) (string, bool, error) {
	for i, p := range path {
		v, ok := m[p]
		if !ok {
			return "", false, nil
		}
		if i == len(path)-1 {
			s, ok := v.(string)
			return s, ok, nil
		}
		if m, ok = v.(map[string]any); !ok {
			return "", false, nil
		}
	}
	return "", false, nil
}

// TestConformanceWatchCache runs the conformance suite again against an
// apiserver of its own with the watch cache on (the apiserver's default,
// and what a production cluster runs): watches and exact reads are then
// served from the cache, not etcd.
func TestConformanceWatchCache(t *testing.T) {
	if testing.Short() {
		t.Skip("a real etcd and kube-apiserver")
	}
	c := kubetest.Start(t, kubetest.Options{WatchCache: true})
	t.Cleanup(c.Stop)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) backend.Backend {
		b, err := kube.New(t.Context(), c.Config, kube.Options{Scope: fmt.Sprint("cached-", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestWatchOutlivesServerTimeouts: an apiserver that ends every watch
// after 1 to 2 s (--min-request-timeout=1) does not end the store's watch,
// which reopens it from the last revision it saw: each write made after
// waiting out a server timeout still arrives, in order, with no gap. Once
// etcd is compacted beyond the last revision the watch saw, its next
// reopening fails with 410 Gone, and the watch ends with ErrCompacted.
func TestWatchOutlivesServerTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("a real etcd and kube-apiserver")
	}
	c := kubetest.Start(t, kubetest.Options{Args: []string{"--min-request-timeout=1"}})
	t.Cleanup(c.Stop)
	b, err := kube.New(t.Context(), c.Config, kube.Options{Scope: "timeouts", Etcd: c.EtcdURL})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Watch(t.Context(), "Blob", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev := <-w.Events(); ev.Type != store.Bookmark {
		t.Fatalf("first event %s, want the initial BOOKMARK", ev.Type)
	}
	for i := range 5 {
		time.Sleep(2500 * time.Millisecond) // longer than the server's watch timeout (1-2 s)
		r, err := b.Apply(t.Context(), store.Resource{Ref: store.Ref{Kind: "Blob", Name: fmt.Sprint("t", i)}, Face: "pureraft", Format: store.Native}, store.Expect{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("the watch ended after a server timeout: %v", w.Err())
			}
			if ev.Type != store.Added || ev.Revision != r.ModRevision {
				t.Fatalf("write %d: got %s@%d, want ADDED@%d", i, ev.Type, ev.Revision, r.ModRevision)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("write %d not delivered", i)
		}
	}
	if n := kube.Reopens(w); n < 3 {
		t.Fatalf("the watch was reopened %d times in 12 s; the apiserver should have ended it every 1-2 s", n)
	} else {
		t.Logf("the apiserver ended the watch %d times; each time it was reopened", n)
	}

	// Writes of another kind (which this watch does not see), then a
	// compaction beyond the revision after the last one the watch saw: its
	// next reopening finds that revision gone, and the watch ends with
	// ErrCompacted.
	var note store.Resource
	for range 2 { // compacting at the second keeps it but not the first
		if note, err = b.Apply(t.Context(), store.Resource{Ref: store.Ref{Kind: "Note", Name: "n"}, Face: "pureraft", Format: store.Native}, store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Compact(t.Context(), note.ModRevision); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-w.Events():
		if ok {
			t.Fatalf("after the compaction the watch got %s@%d", ev.Type, ev.Revision)
		}
		if !errors.Is(w.Err(), store.ErrCompacted) {
			t.Fatalf("the watch ended with %v, want ErrCompacted", w.Err())
		}
		t.Logf("the live watch ended: %v", w.Err())
	case <-time.After(30 * time.Second):
		t.Fatal("the watch did not end after its revision was compacted")
	}
}

// TestKubectlSees: a Deployment applied through the backend is what the
// real kubectl gets from the apiserver, and a label kubectl adds reaches
// the backend's watch as a Modified event whose payload carries it.
func TestKubectlSees(t *testing.T) {
	c := cluster(t)
	kubectl := kubetest.Kubectl(t)
	b := newBackend(t, kube.Options{})
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: k, cluster: {server: %q, certificate-authority-data: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: k, context: {cluster: k, user: admin}}]
current-context: k
`, c.URL, base64.StdEncoding.EncodeToString(c.Config.CAData), c.Config.BearerToken)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	k, err := face.ByName(face.Kubernetes)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := k.Decode("web.yaml", []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kubectl-sees}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "registry.k8s.io/pause:3.10"}]}
`), store.YAML)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := b.Apply(t.Context(), rs[0], store.Expect{})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata struct {
			ResourceVersion string            `json:"resourceVersion"`
			Annotations     map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Replicas int `json:"replicas"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(run("get", "deployment", "web", "-n", "kubectl-sees", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Replicas != 2 || got.Metadata.ResourceVersion != fmt.Sprint(applied.ModRevision) || got.Metadata.Annotations["store.revoada.dev/version"] != "1" {
		t.Fatalf("kubectl gets %+v; the backend applied revision %d", got, applied.ModRevision)
	}
	w, err := b.Watch(t.Context(), "Deployment", applied.ModRevision+1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t.Log(strings.TrimSpace(run("label", "deployment", "web", "-n", "kubectl-sees", "tier=front")))
	select {
	case ev := <-w.Events():
		if ev.Type != store.Modified || ev.Resource.Ref != applied.Ref || !strings.Contains(string(ev.Resource.Payload), `"tier":"front"`) {
			t.Fatalf("after kubectl label: %s %s %s", ev.Type, ev.Resource.Ref, ev.Resource.Payload)
		}
		if ev.Resource.Version != 1 || ev.Resource.CreateRevision != 0 {
			t.Fatalf("kubectl's write is not the backend's: Version %d CreateRevision %d, want the recorded 1 and unknown 0", ev.Resource.Version, ev.Resource.CreateRevision)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl's label did not reach the watch: %v", w.Err())
	}
}
