package kube_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/kube"
	"revoada.dev/revoada/real/kube/kubetest"
)

// realWorld holds the Kubernetes project's own test manifests (see
// testdata/real-world/README.md).
const realWorld = "../../testdata/real-world/kubernetes"

// TestRealWorldManifests applies every real-world manifest through the
// kubernetes face (face.DecodeEach, document by document, as
// real/api.ApplyFile does) to the real apiserver and reads each back. Each
// file's objects without a namespace go to a namespace of the file's own,
// so that files naming the same object do not update each other. It
// asserts that every refusal is expected (the table refusals: the invalid-*
// files, and what a bare apiserver without controllers or the named custom
// resource definitions refuses), and that every difference between what
// was applied and what was read back is one the table differences
// explains. A document the face refuses is also sent to the apiserver
// (dry run, strict field validation), which must refuse it too.
func TestRealWorldManifests(t *testing.T) {
	c := cluster(t)
	b := newBackend(t, kube.Options{})
	k, err := face.ByName(face.Kubernetes)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(realWorld)
	if err != nil {
		t.Fatal(err)
	}
	var files, accepted, refusedFace, refusedServer int
	var stored []string // accepted into the StoreResource custom resource, not served natively
	seenRefusal, seenDiff := map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		files++
		file := e.Name()
		data, err := os.ReadFile(filepath.Join(realWorld, file))
		if err != nil {
			t.Fatal(err)
		}
		f := store.YAML
		if strings.HasSuffix(file, ".json") {
			f = store.JSON
		}
		for _, d := range face.DecodeEach(k, file, data, f) {
			if d.Err != nil {
				refusedFace++
				key := file + " " + d.Where
				seenRefusal[key] = true
				if why, ok := refusals[key]; ok {
					t.Logf("refused by the face, as expected (%s): %s: %v", why, key, d.Err)
				} else {
					t.Errorf("UNEXPECTED refusal by the face: %s: %v", key, d.Err)
				}
				// The apiserver's own verdict on the file (a dry run with
				// strict field validation): it refuses it too, unless
				// stricterFace says why the face is stricter.
				err := apiserverVerdict(t, c, data)
				why, stricter := stricterFace[key]
				switch {
				case err == nil && !stricter:
					t.Errorf("%s: the face refuses what the apiserver accepts", key)
				case err == nil:
					t.Logf("  the apiserver accepts it: the face is stricter (%s)", why)
				case stricter:
					t.Errorf("%s: stricterFace says the apiserver accepts it, but it refuses: %v", key, err)
				default:
					t.Logf("  the apiserver refuses it too: %v", err)
				}
				continue
			}
			for _, r := range d.Resources {
				r = ownNamespace(t, r, file)
				key := file + " " + d.Where + " " + r.Ref.Kind
				applied, err := b.Apply(t.Context(), r, store.Expect{})
				if err != nil {
					refusedServer++
					seenRefusal[key] = true
					if why, ok := refusals[key]; ok {
						t.Logf("refused by the apiserver, as expected (%s): %s: %v", why, key, err)
					} else {
						t.Errorf("UNEXPECTED refusal by the apiserver: %s: %v", key, err)
					}
					continue
				}
				accepted++
				if !b.Native(r.Ref.Kind) {
					stored = append(stored, r.Ref.String())
				}
				got, err := b.Get(t.Context(), r.Ref, backend.ReadOptions{})
				if err != nil {
					t.Errorf("%s: read back %s: %v", key, r.Ref, err)
					continue
				}
				if got.ModRevision != applied.ModRevision || string(got.Payload) != string(applied.Payload) {
					if r.Ref.Kind != "CustomResourceDefinition" {
						t.Errorf("%s: the read differs from the apply's answer", key)
					} else { // the apiserver's own naming and establishing controllers write its status
						t.Logf("%s: read at %d after the apply at %d: the apiserver's CRD controllers wrote its status", key, got.ModRevision, applied.ModRevision)
					}
				}
				for _, diff := range differences(t, r.Payload, got.Payload) {
					why, pattern := explain(diff)
					if why == "" {
						t.Errorf("UNEXPLAINED difference: %s %s: %s", key, r.Ref, diff)
						continue
					}
					seenDiff[pattern] = true
					t.Logf("%s %s: %s (%s)", key, r.Ref, diff, why)
				}
			}
		}
	}
	for key := range refusals {
		if !seenRefusal[key] {
			t.Errorf("refusals names %s, which was not refused", key)
		}
	}
	for _, d := range differenceTable {
		if !seenDiff[d.pattern] {
			t.Errorf("differences explains %q, which no manifest showed", d.pattern)
		}
	}
	t.Logf("%d files: %d resources accepted and read back; %d documents refused by the face, %d resources by the apiserver",
		files, accepted, refusedFace, refusedServer)
	t.Logf("kinds the apiserver does not serve, kept in StoreResources (round-trip exactly): %v", stored)
	if len(stored) == accepted {
		t.Fatal("nothing went to the apiserver's own resources")
	}
}

// ownNamespace moves a namespaced resource the face put in "default" (the
// manifest named none) to a namespace named after its file.
func ownNamespace(t *testing.T, r store.Resource, file string) store.Resource {
	if r.Ref.Namespace != "default" {
		return r
	}
	ns := "rw-" + strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(file), "-"), "-")
	var body map[string]any
	if err := json.Unmarshal(r.Payload, &body); err != nil {
		t.Fatal(err)
	}
	body["metadata"].(map[string]any)["namespace"] = ns
	payload, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r.Ref.Namespace, r.Payload = ns, payload
	return r
}

// refusals are the documents (file and where) and resources (and kind)
// that are refused, and why.
var refusals = map[string]string{
	"invalid-deployment-unknown-and-duplicate-fields.yaml document 1": "an invalid-* file: a duplicate field, which the face's strict YAML refuses as the apiserver's strict decoding does",
	"invalid-pod.yaml document 1":                                     "an invalid-* file: a container without a name, which the apiserver requires too",
	"invalid-rc-with-empty-args.yaml document 1":                      "an invalid-* file: a null in a container's args (see stricterFace)",
	"deployment-label-change3.yaml document 1 Deployment":             "its selector (name: invalid) does not match its template's labels (name: nginx3): Kubernetes's validation refuses it, as kubectl's test that uses the file expects",
}

// stricterFace are the documents the face refuses and the apiserver
// accepts (a dry run with fieldValidation=Strict; kubectl v1.37.2's apply
// and create, client or server dry run, accept them too), and why.
var stricterFace = map[string]string{
	"invalid-rc-with-empty-args.yaml document 1": "a null in a container's args: the apiserver's typed decode makes it \"\"; the face refuses to change a value silently. The kubectl test the file comes from dates from kubectl's client-side OpenAPI validation, which refused it",
}

// difference is one path that differs: added by the apiserver, removed,
// or changed.
type difference struct {
	op       string // "added", "removed", "changed"
	path     string // with array indices as []
	from, to any
}

func (d difference) String() string {
	switch d.op {
	case "added":
		return fmt.Sprintf("added %s = %s", d.path, short(d.to))
	case "removed":
		return fmt.Sprintf("removed %s (was %s)", d.path, short(d.from))
	}
	return fmt.Sprintf("changed %s: %s -> %s", d.path, short(d.from), short(d.to))
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// differences compares two JSON documents leaf by leaf; a subtree present
// on one side only is one difference.
func differences(t *testing.T, applied, read []byte) []difference {
	var a, b any
	if err := json.Unmarshal(applied, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(read, &b); err != nil {
		t.Fatal(err)
	}
	var out []difference
	walkDiff("", a, b, &out)
	return out
}

func walkDiff(path string, a, b any, out *[]difference) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range am {
				if !yield(k) {
					return
				}
			}
			for k := range bm {
				if _, ok := am[k]; !ok && !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			p := strings.TrimPrefix(path+"."+k, ".")
			av, ina := am[k]
			bv, inb := bm[k]
			switch {
			case !inb:
				*out = append(*out, difference{op: "removed", path: p, from: av})
			case !ina:
				*out = append(*out, difference{op: "added", path: p, to: bv})
			default:
				walkDiff(p, av, bv, out)
			}
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		for i := range as {
			walkDiff(path+"[]", as[i], bs[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, difference{op: "changed", path: path, from: a, to: b})
	}
}

// differenceTable explains the differences between an applied manifest
// and what the apiserver serves: pattern is a regular expression matched
// against "op path" (array indices as []).
var differenceTable = []struct{ pattern, why string }{
	{`added metadata\.creationTimestamp`, "set by the apiserver at creation"},
	{`added metadata\.generation`, "the apiserver's count of spec changes, 1 at creation"},
	{`added status`, "status as the apiserver's create strategy initialises it (Pod phase Pending and its QoS class, Namespace Active, replicas 0, a Service's empty loadBalancer, a CRD's accepted names); no controller runs here to fill in more"},
	{`added (spec\.template\.)?spec\.containers\[\]\.(terminationMessagePath|terminationMessagePolicy|imagePullPolicy|resources)`, "container defaults (core/v1 SetDefaults_Container: /dev/termination-log, File, IfNotPresent or Always by the image's tag, empty resources)"},
	{`added (spec\.template\.)?spec\.containers\[\]\.ports\[\]\.protocol`, "a container port's protocol defaults to TCP"},
	{`added (spec\.template\.)?spec\.(schedulerName|restartPolicy|dnsPolicy|securityContext|terminationGracePeriodSeconds)`, "pod spec defaults (core/v1 SetDefaults_PodSpec: default-scheduler, Always, ClusterFirst, an empty security context, 30 s)"},
	{`added spec\.enableServiceLinks`, "a Pod's enableServiceLinks defaults to true (SetDefaults_Pod)"},
	{`added spec\.(priority|preemptionPolicy)`, "the Priority admission plugin resolves the pod's priority class (none: 0, PreemptLowerPriority)"},
	{`added spec\.tolerations`, "the DefaultTolerationSeconds admission plugin adds 300 s NoExecute tolerations of not-ready and unreachable nodes"},
	{`added spec\.containers\[\]\.env\[\]\.valueFrom\.fieldRef\.apiVersion`, "a field reference's apiVersion defaults to v1"},
	{`added spec\.(revisionHistoryLimit|progressDeadlineSeconds|strategy)`, "apps/v1 defaults of a Deployment (10 revisions, 600 s, RollingUpdate 25%/25%) or StatefulSet/DaemonSet revision history (10)"},
	{`added spec\.(podManagementPolicy|persistentVolumeClaimRetentionPolicy)`, "apps/v1 StatefulSet defaults (OrderedReady; Retain when deleted and when scaled)"},
	{`added spec\.updateStrategy\.rollingUpdate\.maxSurge`, "apps/v1 DaemonSet default: maxSurge 0"},
	{`added metadata\.annotations`, "the DaemonSet strategy records deprecated.daemonset.template.generation"},
	{`added spec\.(type|sessionAffinity|internalTrafficPolicy|ipFamilyPolicy|ipFamilies|clusterIPs?)`, "Service defaults (ClusterIP, None, Cluster, SingleStack) and the cluster IP the apiserver allocates from --service-cluster-ip-range, with its family"},
	{`added spec\.ports\[\]\.(targetPort|protocol)`, "a Service port's targetPort defaults to its port, its protocol to TCP"},
	{`added metadata\.labels`, "a ReplicationController's labels default to its template's (SetDefaults_ReplicationController); a Namespace gets kubernetes.io/metadata.name"},
	{`added spec\.selector`, "a ReplicationController's selector defaults to its template's labels"},
	{`added spec`, "a Namespace's spec.finalizers [kubernetes], added by the namespace strategy"},
	{`added spec\.conversion`, "a CustomResourceDefinition's conversion strategy defaults to None"},
	{`added spec\.names\.(singular|listKind)`, "a CustomResourceDefinition's singular and list kind default from its kind"},
	{`added spec\.(username|uid|groups)`, "a CertificateSigningRequest records who asked: the apiserver fills them from the requesting user (the test's admin)"},
	{`removed spec\.template\.spec\.affinity\.podAntiAffinity\.requiredDuringSchedulingIgnoredDuringExecution\[\]\.namespaces`, "an empty list (namespaces: []), which the apiserver's encoding omits: same meaning"},
}

func explain(d difference) (why, pattern string) {
	s := d.op + " " + d.path
	for _, e := range differenceTable {
		if regexp.MustCompile("^(?:" + e.pattern + ")$").MatchString(s) {
			return e.why, e.pattern
		}
	}
	return "", ""
}

// apiserverVerdict sends a one-document manifest to the apiserver as kubectl
// would (YAML, fieldValidation=Strict) in a dry run, in its namespace or
// else rw-verdict, and returns its refusal (nil: accepted).
func apiserverVerdict(t *testing.T, c *kubetest.Cluster, doc []byte) error {
	t.Helper()
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return err
	}
	m, err := mapper.RESTMapping(gv.WithKind(head.Kind).GroupKind(), gv.Version)
	if err != nil {
		return err
	}
	dyn := dynamic.NewForConfigOrDie(c.Config)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "rw-verdict"}}}
	if _, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	path := "/api/" + gv.Version
	if gv.Group != "" {
		path = "/apis/" + gv.Group + "/" + gv.Version
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		path += "/namespaces/" + cmp.Or(head.Metadata.Namespace, "rw-verdict")
	}
	path += "/" + m.Resource.Resource
	client, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.URL+path+"?dryRun=All&fieldValidation=Strict", bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var status metav1.Status
	if json.Unmarshal(body, &status) == nil && status.Message != "" {
		return fmt.Errorf("%d %s: %s", status.Code, status.Reason, status.Message)
	}
	return fmt.Errorf("%s: %s", resp.Status, body)
}
