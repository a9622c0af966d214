package face

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"revoada.dev/revoada/core/store"
)

const widgetCRD = `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
"metadata":{"name":"widgets.example.com"},
"spec":{"group":"example.com","names":{"kind":"Widget","plural":"widgets","singular":"widget","shortNames":["wd"]},
"scope":"Namespaced","versions":[{"name":"v1alpha1"},{"name":"v1"}]}}`

func testKinds() []KindInfo {
	crd := store.Resource{Ref: store.Ref{Kind: "CustomResourceDefinition", Name: "widgets.example.com"},
		Face: Kubernetes, Format: store.JSON, Payload: []byte(widgetCRD)}
	return Kinds([]string{"Pod", "Gadget", "Widget"}, []store.Resource{crd})
}

// TestResolveKindLikeKubectl: the names kubectl accepts for a resource
// argument resolve to the store kind.
func TestResolveKindLikeKubectl(t *testing.T) {
	kinds := testKinds()
	for name, want := range map[string]string{
		"Pod": "Pod", "pod": "Pod", "pods": "Pod", "PODS": "Pod", "Pods": "Pod", "po": "Pod", "PO": "Pod",
		"deploy": "Deployment", "deployments": "Deployment", "deployments.apps": "Deployment",
		"deployment.apps": "Deployment", "Deployment.apps": "Deployment", "deployments.v1.apps": "Deployment",
		"jobs.batch": "Job", "job": "Job", "jobs": "Job", "cronjobs.v1.batch": "CronJob",
		"NomadJob": "NomadJob", "nomadjob": "NomadJob", "nomadjobs": "NomadJob", "nomadjobs.nomad": "NomadJob",
		"svc": "Service", "Service": "Service", "services": "Service", "Services": "Service",
		"service": "service", "service.systemd": "service", "Timer": "timer", "socket.systemd": "socket",
		"ds": "DaemonSet", "sts": "StatefulSet", "rs": "ReplicaSet", "cm": "ConfigMap", "ns": "Namespace",
		"no": "Node", "pv": "PersistentVolume", "pvc": "PersistentVolumeClaim", "sa": "ServiceAccount",
		"ing": "Ingress", "ingresses.networking.k8s.io": "Ingress", "ep": "Endpoints", "endpoints": "Endpoints",
		"cj": "CronJob", "hpa": "HorizontalPodAutoscaler", "horizontalpodautoscalers.v2.autoscaling": "HorizontalPodAutoscaler",
		"pdb": "PodDisruptionBudget", "netpol": "NetworkPolicy", "networkpolicies": "NetworkPolicy",
		"sc": "StorageClass", "crd": "CustomResourceDefinition", "crds": "CustomResourceDefinition",
		"csr": "CertificateSigningRequest", "ev": "Event", "events.events.k8s.io": "Event", "limits": "LimitRange",
		"quota": "ResourceQuota", "rc": "ReplicationController", "pc": "PriorityClass", "priorityclasses": "PriorityClass",
		"componentstatuses": "ComponentStatus", "cs": "ComponentStatus",
		"wd": "Widget", "widgets.example.com": "Widget", "widgets.v1alpha1.example.com": "Widget", "widget": "Widget",
		"gadgets": "Gadget", "GADGET": "Gadget",
	} {
		got, err := ResolveKind(name, kinds)
		if err != nil || got.Kind != want {
			t.Errorf("ResolveKind(%q) = %q, %v; want %q", name, got.Kind, err, want)
		}
	}
}

// TestResolveKindAmbiguous: a name that answers to several kinds, none of
// them spelled exactly so, is refused with every candidate named.
func TestResolveKindAmbiguous(t *testing.T) {
	_, err := ResolveKind("SERVICE", testKinds())
	var amb *AmbiguousKindError
	if !errors.As(err, &amb) || !errors.Is(err, ErrAmbiguousKind) {
		t.Fatalf("ResolveKind(SERVICE) = %v; want an *AmbiguousKindError", err)
	}
	var got []string
	for _, k := range amb.Candidates {
		got = append(got, k.Kind)
	}
	if !slices.Equal(got, []string{"Service", "service"}) {
		t.Fatalf("candidates %v, want Service and service", got)
	}
	for _, want := range []string{`"Service"`, `"service"`, "systemd unit type", "kubernetes, group core"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %s", err, want)
		}
	}
}

// TestResolveKindUnknown: an unknown kind is an error with the nearest
// names as suggestions, never an empty answer.
func TestResolveKindUnknown(t *testing.T) {
	for name, want := range map[string][]string{
		"deploymnets":         {"deployments"},
		"Deploymnet":          {"Deployment"},
		"deployments.app":     {"deployments.apps"},
		"pood":                {"Pod"},
		"timers":              {"timer"},
		"FooBar":              nil,
		"deployments.v2.apps": nil,
	} {
		_, err := ResolveKind(name, testKinds())
		var unk *UnknownKindError
		if !errors.As(err, &unk) || !errors.Is(err, ErrUnknownKind) {
			t.Errorf("ResolveKind(%q) = %v; want an *UnknownKindError", name, err)
			continue
		}
		for _, w := range want {
			if !slices.Contains(unk.Suggestions, w) {
				t.Errorf("ResolveKind(%q): suggestions %v lack %q", name, unk.Suggestions, w)
			}
		}
		if len(want) > 0 && !strings.Contains(err.Error(), "did you mean") {
			t.Errorf("%q has no \"did you mean\"", err)
		}
	}
}

// TestBuiltinKindsResolveToThemselves: every kind kube-apiserver serves
// resolves by its own name and its plural, and every short name belongs to
// a served kind (a kind that leaves the served set takes its short names
// with it, or this fails).
func TestBuiltinKindsResolveToThemselves(t *testing.T) {
	kinds := Kinds(nil, nil)
	served := map[string]bool{}
	for _, ks := range BuiltinKinds() {
		for _, k := range ks {
			served[k] = true
		}
	}
	for k := range served {
		info, err := ResolveKind(k, kinds)
		if err != nil || info.Kind != k || info.Face != Kubernetes {
			t.Errorf("ResolveKind(%q) = %+v, %v", k, info, err)
			continue
		}
		if byPlural, err := ResolveKind(info.Plural, kinds); err != nil || byPlural.Kind != k {
			t.Errorf("ResolveKind(%q) = %q, %v; want %q", info.Plural, byPlural.Kind, err, k)
		}
	}
	for k, short := range shortNames {
		if !served[k] {
			t.Errorf("short names %v for %s, which is not served", short, k)
		}
	}
	for _, u := range unitTypes {
		if info, err := ResolveKind(u, kinds); err != nil || info.Face != Systemd {
			t.Errorf("ResolveKind(%q) = %+v, %v; want the systemd unit type", u, info, err)
		}
	}
}

// TestKindsPlurals spot-checks guessed plurals against kubectl
// api-resources' NAME column.
func TestKindsPlurals(t *testing.T) {
	want := map[string]string{
		"Endpoints": "endpoints", "Ingress": "ingresses", "NetworkPolicy": "networkpolicies",
		"ComponentStatus": "componentstatuses", "IPAddress": "ipaddresses", "CSIStorageCapacity": "csistoragecapacities",
		"StorageClass": "storageclasses", "NomadJob": "nomadjobs",
	}
	for _, k := range Kinds(nil, nil) {
		if w, ok := want[k.Kind]; ok && k.Plural != w {
			t.Errorf("%s: plural %q, want %q", k.Kind, k.Plural, w)
		}
	}
}

// crd is a CustomResourceDefinition named name with spec, as the store
// holds one.
func crd(name, spec string) store.Resource {
	return store.Resource{Ref: store.Ref{Kind: "CustomResourceDefinition", Name: name}, Face: Kubernetes, Format: store.JSON,
		Payload: []byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"` + name + `"},"spec":` + spec + `}`)}
}

// TestKindsIgnoresBrokenCRDs: a definition kube-apiserver would refuse, or
// one of a kind a face owns, defines no kind (issue 10).
func TestKindsIgnoresBrokenCRDs(t *testing.T) {
	const good = `{"group":"example.com","scope":"Namespaced","names":{"kind":"Widget","plural":"widgets","singular":"widget","shortNames":["wd"]},"versions":[{"name":"v1"}]}`
	if n, m := len(Kinds(nil, []store.Resource{crd("widgets.example.com", good)})), len(Kinds(nil, nil)); n != m+1 {
		t.Fatalf("a well-formed CRD added %d kinds", n-m)
	}
	broken := []store.Resource{
		{Ref: store.Ref{Kind: "CustomResourceDefinition", Name: "x"}, Format: store.JSON, Payload: []byte(`{`)},
		{Ref: store.Ref{Kind: "CustomResourceDefinition", Name: "x"}, Format: store.JSON, Payload: []byte(`[]`)},
		{Ref: store.Ref{Kind: "CustomResourceDefinition", Name: "x"}, Format: store.JSON, Payload: []byte(`{"spec":{"names":{"kind":"X"}}}`)},
		crd("widgets.example.com", strings.Replace(good, `"example.com"`, `""`, 1)),                      // empty group
		crd("widgets.example", strings.Replace(good, `"example.com"`, `"example"`, 1)),                   // no dot
		crd("widgets.Example.com", strings.Replace(good, `"example.com"`, `"Example.com"`, 1)),           // not a DNS subdomain
		crd("widgets.example.com", strings.Replace(good, `"kind":"Widget"`, `"kind":""`, 1)),             // empty kind
		crd(".example.com", strings.Replace(good, `"plural":"widgets"`, `"plural":""`, 1)),               // empty plural
		crd("Widgets.example.com", strings.Replace(good, `"plural":"widgets"`, `"plural":"Widgets"`, 1)), // not a DNS label
		crd("widgets.example.com", strings.Replace(good, `["wd"]`, `["WD"]`, 1)),                         // a short name not a DNS label
		crd("widgets.example.com", strings.Replace(good, `["wd"]`, `[""]`, 1)),                           // an empty short name
		crd("widgets.example.com", strings.Replace(good, `[{"name":"v1"}]`, `[]`, 1)),                    // no version
		crd("widgets.example.com", strings.Replace(good, `[{"name":"v1"}]`, `[{"name":""}]`, 1)),         // an empty version
		crd("widgets.example.com", strings.Replace(good, `"Namespaced"`, `"Galaxy"`, 1)),                 // bad scope
		crd("widgets.example.com", strings.Replace(good, `"scope":"Namespaced",`, ``, 1)),                // no scope
		crd("gadgets.example.com", good), // named for another plural
		crd("widgets.example.com", strings.Replace(good, `"kind":"Widget"`, `"kind":"Pod"`, 1)),      // a kind Kubernetes owns
		crd("widgets.example.com", strings.Replace(good, `"kind":"Widget"`, `"kind":"Pods"`, 1)),     // ... in another spelling
		crd("widgets.example.com", strings.Replace(good, `"kind":"Widget"`, `"kind":"Service"`, 1)),  // Kubernetes' and systemd's
		crd("widgets.example.com", strings.Replace(good, `"kind":"Widget"`, `"kind":"NomadJob"`, 1)), // the nomad face's
	}
	for _, c := range broken {
		if n, m := len(Kinds(nil, []store.Resource{c})), len(Kinds(nil, nil)); n != m {
			t.Errorf("CRD %s added %d kinds", c.Payload, n-m)
		}
	}
}

// TestResolveKindBuiltinNamesWin: the names of the built-in kinds (name,
// singular, plural, short names) resolve to them whatever a CRD claims, as
// kubectl resolves the built-in groups first (issue 10: a CRD with
// shortNames [wd, po, svc] made "po" and "svc" ambiguous); the CRD keeps
// the names no built-in kind has.
func TestResolveKindBuiltinNamesWin(t *testing.T) {
	greedy := crd("widgets.example.com", `{"group":"example.com","scope":"Namespaced","names":{"kind":"Widget","plural":"widgets",
		"shortNames":["wd","po","svc","deploy","service","nomadjob","cm"]},"versions":[{"name":"v1"}]}`)
	podCRD := crd("pods.evil.example.com", `{"group":"evil.example.com","scope":"Namespaced","names":{"kind":"Pod","plural":"pods",
		"shortNames":["deploy"]},"versions":[{"name":"v1"}]}`)
	gizmo := crd("services.example.org", `{"group":"example.org","scope":"Cluster","names":{"kind":"Gizmo","plural":"services",
		"singular":"deployment","shortNames":["gz"]},"versions":[{"name":"v1"}]}`)
	kinds := Kinds([]string{"Gadget"}, []store.Resource{greedy, podCRD, gizmo})
	for name, want := range map[string]string{
		"po": "Pod", "svc": "Service", "deploy": "Deployment", "service": "service", "nomadjob": "NomadJob", "cm": "ConfigMap",
		"pods": "Pod", "Pod": "Pod", "services": "Service", "Services": "Service", "deployment": "Deployment",
		"wd": "Widget", "widgets": "Widget", "Widget": "Widget", "widgets.example.com": "Widget",
		"gz": "Gizmo", "gizmo": "Gizmo", "services.example.org": "Gizmo", "deployment.example.org": "Gizmo",
		"gadget": "Gadget",
	} {
		got, err := ResolveKind(name, kinds)
		if err != nil || got.Kind != want {
			t.Errorf("ResolveKind(%q) = %q, %v; want %q", name, got.Kind, err, want)
		}
	}
	if _, err := ResolveKind("pods.evil.example.com", kinds); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("the group of a CRD of kind Pod: %v, want an unknown kind", err)
	}
	for _, k := range KindsNamed("widget", kinds) {
		if !slices.Equal(k.Short, []string{"wd"}) {
			t.Errorf("Widget's short names %v, want [wd]: the others are built-in kinds'", k.Short)
		}
	}
}

func TestSuggest(t *testing.T) {
	pool := []string{"apply", "get", "list", "delete", "watch", "version", "from", "data"}
	for word, want := range map[string][]string{
		"aplly": {"apply"}, "APPLY": nil, "gte": {"get"}, "fromm": {"from"}, "dleete": {"delete"},
		"wacth": {"watch"}, "xyz": nil, "": nil, "lsit": {"list"}, "verison": {"version"},
	} {
		if got := Suggest(word, pool); !slices.Equal(got, want) {
			t.Errorf("Suggest(%q) = %v, want %v", word, got, want)
		}
	}
	many := []string{"ab", "ac", "ad", "ae", "af", "ag", "ah"}
	if got := Suggest("aa", many); len(got) != SuggestionsMax {
		t.Errorf("Suggest gave %d words, limit %d", len(got), SuggestionsMax)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"pdo", "pod", 1}, {"abc", "abc", 0}} {
		if d := editDistance(c.a, c.b); d != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
		if d := editDistance(c.b, c.a); d != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.b, c.a, d, c.d)
		}
	}
}
