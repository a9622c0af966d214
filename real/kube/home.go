package kube

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// The store's own custom resource.
const (
	crdGroup    = "store.revoada.dev"
	crdVersion  = "v1"
	crdKind     = "StoreResource"
	crdResource = "storeresources"
	crdName     = crdResource + "." + crdGroup

	labelScope     = crdGroup + "/scope"
	labelKind      = crdGroup + "/kind"
	labelNamespace = crdGroup + "/namespace"

	annVersion        = crdGroup + "/version"
	annCreateRevision = crdGroup + "/create-revision"

	// crdEstablishGuard bounds the wait for the definition to be served.
	crdEstablishGuard = 60 * time.Second
)

var crdGVR = schema.GroupVersionResource{Group: crdGroup, Version: crdVersion, Resource: crdResource}

// target is where one ref lives: an object of a resource.
type target struct {
	res    dynamic.ResourceInterface
	gvr    schema.GroupVersionResource
	ns     string // the object's namespace, "" when cluster-scoped
	name   string // the object's name
	build  func(cur *unstructured.Unstructured) (*unstructured.Unstructured, error)
	decode func(*unstructured.Unstructured) (store.Resource, error)
}

// path is the object's URL path, as client-go's dynamic client makes it.
func (t target) path() []string {
	p := []string{"apis", t.gvr.Group}
	if t.gvr.Group == "" {
		p = []string{"api"}
	}
	p = append(p, t.gvr.Version)
	if t.ns != "" {
		p = append(p, "namespaces", t.ns)
	}
	return append(p, t.gvr.Resource, t.name)
}

// source is one list or watch of a kind's objects.
type source struct {
	res      dynamic.ResourceInterface
	selector string
	decode   func(*unstructured.Unstructured) (store.Resource, error)
	keep     func(store.Resource) bool
}

// sources are the lists or watches that together hold kind in namespace.
func (b *Backend) sources(kind, namespace string) []source {
	if kind != "" {
		if nk, ok := b.home(kind); ok {
			return []source{b.nativeSource(nk, namespace)}
		}
	}
	sel := labelScope + "=" + b.scope
	if kind != "" {
		sel += "," + labelKind + "=" + digest("k", kind)
	}
	if namespace != "" {
		sel += "," + labelNamespace + "=" + digest("n", namespace)
	}
	out := []source{{
		res: b.dyn.Resource(crdGVR), selector: sel, decode: b.decodeStored,
		keep: func(r store.Resource) bool {
			return (kind == "" || r.Ref.Kind == kind) && (namespace == "" || r.Ref.Namespace == namespace)
		},
	}}
	if kind == "" {
		for _, k := range b.kinds {
			out = append(out, b.nativeSource(b.native[k], namespace))
		}
	}
	return out
}

func (b *Backend) nativeSource(nk nativeKind, namespace string) source {
	var res dynamic.ResourceInterface = b.dyn.Resource(nk.gvr)
	if nk.namespaced && namespace != "" {
		res = b.dyn.Resource(nk.gvr).Namespace(namespace)
	}
	return source{
		res: res, decode: b.decodeNative,
		keep: func(r store.Resource) bool { return namespace == "" || r.Ref.Namespace == namespace },
	}
}

// refTarget is where ref lives, for reads and deletes.
func (b *Backend) refTarget(ref store.Ref) (target, error) {
	nk, ok := b.home(ref.Kind)
	if !ok {
		return b.storedTarget(ref, nil), nil
	}
	return b.nativeTarget(nk, ref)
}

// target is where r goes, with how to build its object.
func (b *Backend) target(ctx context.Context, r store.Resource) (target, error) {
	nk, ok := b.home(r.Ref.Kind)
	if !ok && r.Face == face.Kubernetes && len(b.failed) > 0 {
		if body, err := manifest(r); err == nil {
			if g := schema.FromAPIVersionAndKind(body.GetAPIVersion(), body.GetKind()).Group; b.failed[g] {
				return target{}, fmt.Errorf("%w: the apiserver at %s failed to list group %s's resources when this backend started", ErrUnreachable, b.url, g)
			}
		}
	}
	if !ok {
		return b.storedTarget(r.Ref, &r), nil
	}
	if r.Face != face.Kubernetes {
		return target{}, fmt.Errorf("%w: kind %s is the apiserver's own, which holds only the kubernetes face's manifests (this one is the %s face's)", store.ErrUnsupported, r.Ref.Kind, r.Face)
	}
	body, err := manifest(r)
	if err != nil {
		return target{}, err
	}
	gvk := schema.FromAPIVersionAndKind(body.GetAPIVersion(), body.GetKind())
	served, ok := b.served[gvk]
	if !ok || gvk.Kind != r.Ref.Kind {
		return target{}, fmt.Errorf("%w: apiVersion %q kind %q is not served by the apiserver at %s (kind %s is served as %s)", store.ErrInvalid, body.GetAPIVersion(), body.GetKind(), b.url, r.Ref.Kind, nk.gvk.GroupVersion())
	}
	t, err := b.nativeTarget(served, r.Ref)
	if err != nil {
		return target{}, err
	}
	if body.GetName() != r.Ref.Name || served.namespaced && body.GetNamespace() != "" && body.GetNamespace() != r.Ref.Namespace {
		return target{}, fmt.Errorf("%w: the manifest names %s/%s, the resource %s", store.ErrInvalid, body.GetNamespace(), body.GetName(), r.Ref)
	}
	if served.namespaced {
		body.SetNamespace(r.Ref.Namespace)
		if err := b.ensureNamespace(ctx, r.Ref.Namespace); err != nil {
			return target{}, err
		}
	}
	t.build = func(cur *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		obj := body.DeepCopy()
		version, create := next(cur)
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[annVersion] = strconv.FormatInt(version, 10)
		delete(ann, annCreateRevision)
		if create != 0 {
			ann[annCreateRevision] = strconv.FormatUint(uint64(create), 10)
		}
		obj.SetAnnotations(ann)
		return obj, nil
	}
	return t, nil
}

func (b *Backend) nativeTarget(nk nativeKind, ref store.Ref) (target, error) {
	if nk.namespaced != (ref.Namespace != "") {
		scope := "cluster-scoped"
		if nk.namespaced {
			scope = "namespaced"
		}
		return target{}, fmt.Errorf("%w: kind %s is %s at the apiserver, and %s has %s namespace", store.ErrInvalid, ref.Kind, scope, ref, map[bool]string{true: "a", false: "no"}[ref.Namespace != ""])
	}
	res := dynamic.ResourceInterface(b.dyn.Resource(nk.gvr))
	if nk.namespaced {
		res = b.dyn.Resource(nk.gvr).Namespace(ref.Namespace)
	}
	return target{res: res, gvr: nk.gvr, ns: ref.Namespace, name: ref.Name, decode: b.decodeNative}, nil
}

// manifest parses a kubernetes-face payload.
func manifest(r store.Resource) (*unstructured.Unstructured, error) {
	data := r.Payload
	if r.Format == store.YAML {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, &store.InvalidError{Field: "payload", Reason: err.Error()}
		}
		data = j
	} else if r.Format != store.JSON {
		return nil, &store.InvalidError{Field: "format", Reason: fmt.Sprintf("a manifest is json or yaml, not %s", r.Format)}
	}
	var obj unstructured.Unstructured
	if err := obj.UnmarshalJSON(data); err != nil {
		return nil, &store.InvalidError{Field: "payload", Reason: err.Error()}
	}
	obj.SetResourceVersion("")
	obj.SetUID("")
	return &obj, nil
}

// next is the version and create revision of the write after cur (nil:
// a create, whose create revision is its own, unknown until written).
func next(cur *unstructured.Unstructured) (int64, store.Revision) {
	if cur == nil {
		return 1, 0
	}
	version, create := writeMeta(cur)
	if create == 0 && version == 1 {
		create = ownCreate(cur)
	}
	return version + 1, create
}

// ownCreate is the create revision of an object the backend created and
// no one has written since: its resourceVersion. When another field
// manager has written it (kubectl, a controller updating status), its
// resourceVersion is that write's, and the create revision is unknown: 0.
func ownCreate(obj *unstructured.Unstructured) store.Revision {
	for _, m := range obj.GetManagedFields() {
		if m.Manager != FieldManager {
			return 0
		}
	}
	rev, _ := revisionOf(obj)
	return rev
}

// writeMeta reads the version and create revision the backend recorded
// (0, 0 for an object it never wrote).
func writeMeta(obj *unstructured.Unstructured) (int64, store.Revision) {
	if obj.GetAPIVersion() == crdGroup+"/"+crdVersion {
		v, _, _ := unstructured.NestedInt64(obj.Object, "spec", "version")
		c, _, _ := unstructured.NestedInt64(obj.Object, "spec", "createRevision")
		return v, store.Revision(max(c, 0))
	}
	ann := obj.GetAnnotations()
	v, _ := strconv.ParseInt(ann[annVersion], 10, 64)
	c, _ := strconv.ParseUint(ann[annCreateRevision], 10, 64)
	return max(v, 0), store.Revision(c)
}

// revisions fills a resource's revisions from its object: ModRevision is
// the resourceVersion; Version and CreateRevision are what the backend
// recorded, the create revision being the object's own while Version is 1.
func revisions(obj *unstructured.Unstructured, r *store.Resource) error {
	rev, err := revisionOf(obj)
	if err != nil {
		return err
	}
	r.ModRevision = rev
	r.Version, r.CreateRevision = writeMeta(obj)
	if r.Version == 1 && r.CreateRevision == 0 {
		r.CreateRevision = ownCreate(obj)
	}
	return nil
}

// decodeNative makes a kubernetes-face resource of an apiserver object:
// the object as the apiserver serves it, less metadata.resourceVersion
// (the ModRevision), metadata.uid (the face drops it too),
// metadata.managedFields (server-side apply's bookkeeping) and the
// backend's own annotations; server defaults and status stay.
func (b *Backend) decodeNative(obj *unstructured.Unstructured) (store.Resource, error) {
	r := store.Resource{
		Ref:    store.Ref{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()},
		Face:   face.Kubernetes,
		Format: store.JSON,
	}
	if err := revisions(obj, &r); err != nil {
		return store.Resource{}, err
	}
	body := obj.DeepCopy()
	body.SetResourceVersion("")
	body.SetUID("")
	body.SetManagedFields(nil)
	if ann := body.GetAnnotations(); ann != nil {
		ann = maps.Clone(ann)
		delete(ann, annVersion)
		delete(ann, annCreateRevision)
		if len(ann) == 0 {
			ann = nil
		}
		body.SetAnnotations(ann)
	}
	payload, err := json.Marshal(body.Object) // maps marshal with sorted keys
	if err != nil {
		return store.Resource{}, fmt.Errorf("kube: %s: %w", r.Ref, err)
	}
	r.Payload = payload
	return r, nil
}

// storedTarget is ref's StoreResource, built from r for a write.
func (b *Backend) storedTarget(ref store.Ref, r *store.Resource) target {
	t := target{res: b.dyn.Resource(crdGVR), gvr: crdGVR, name: b.objectName(ref), decode: b.decodeStored}
	if r != nil {
		t.build = func(cur *unstructured.Unstructured) (*unstructured.Unstructured, error) {
			version, create := next(cur)
			spec := map[string]any{
				"kind": ref.Kind, "namespace": ref.Namespace, "name": ref.Name,
				"face": r.Face, "format": r.Format.String(),
				"version": version,
			}
			if len(r.Payload) > 0 { // the schema's format byte refuses "": an empty payload has none
				spec["payload"] = base64.StdEncoding.EncodeToString(r.Payload)
			}
			if create != 0 {
				spec["createRevision"] = int64(create)
			}
			obj := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
			obj.SetAPIVersion(crdGroup + "/" + crdVersion)
			obj.SetKind(crdKind)
			obj.SetName(t.name)
			obj.SetLabels(map[string]string{
				labelScope: b.scope, labelKind: digest("k", ref.Kind), labelNamespace: digest("n", ref.Namespace),
			})
			return obj, nil
		}
	}
	return t
}

// objectName names ref's StoreResource: a digest of the scope and the ref,
// since store names allow what object names do not (capitals, most
// punctuation, 253 bytes in each of three parts).
func (b *Backend) objectName(ref store.Ref) string {
	return digest("r", b.scope+"\x00"+ref.Kind+"\x00"+ref.Namespace+"\x00"+ref.Name)
}

// digest is prefix and 160 bits of s's SHA-256 in hex: a valid object
// name and label value.
func digest(prefix, s string) string {
	sum := sha256.Sum256([]byte(s))
	return prefix + hex.EncodeToString(sum[:20])
}

// decodeStored makes the store resource a StoreResource holds.
func (b *Backend) decodeStored(obj *unstructured.Unstructured) (store.Resource, error) {
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	str := func(k string) string { s, _ := spec[k].(string); return s }
	f, err := store.ParseFormat(str("format"))
	if err != nil {
		return store.Resource{}, fmt.Errorf("kube: StoreResource %s: %w", obj.GetName(), err)
	}
	payload, err := base64.StdEncoding.DecodeString(str("payload"))
	if err != nil {
		return store.Resource{}, fmt.Errorf("kube: StoreResource %s: payload: %w: %v", obj.GetName(), store.ErrInvalid, err)
	}
	if len(payload) == 0 {
		payload = nil
	}
	r := store.Resource{
		Ref:  store.Ref{Kind: str("kind"), Namespace: str("namespace"), Name: str("name")},
		Face: str("face"), Format: f, Payload: payload,
	}
	if err := revisions(obj, &r); err != nil {
		return store.Resource{}, err
	}
	return r, nil
}

// validResource checks what store.Store.Apply checks, before any call.
func validResource(r store.Resource) error {
	if err := r.Ref.Validate(); err != nil {
		return err
	}
	if err := (store.Ref{Kind: r.Face, Name: "face"}).Validate(); err != nil {
		return &store.InvalidError{Field: "face", Reason: err.Error()}
	}
	if _, err := store.ParseFormat(r.Format.String()); err != nil {
		return &store.InvalidError{Field: "format", Reason: fmt.Sprintf("unknown %s", r.Format)}
	}
	if len(r.Payload) > store.PayloadBytesMax {
		return &store.InvalidError{Field: "payload", Reason: fmt.Sprintf("%d bytes, limit %d", len(r.Payload), store.PayloadBytesMax)}
	}
	return nil
}

func checkLabel(s string) error {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return &store.InvalidError{Field: "scope", Reason: fmt.Sprintf("%q: %s", s, strings.Join(errs, "; "))}
	}
	return nil
}

// ensureNamespace creates namespace ns if the apiserver lacks it: the
// store has no namespace objects, a namespace exists by being used, while
// the apiserver refuses objects in a namespace that does not exist.
func (b *Backend) ensureNamespace(ctx context.Context, ns string) error {
	b.mu.Lock()
	known := b.nsKnown[ns]
	b.mu.Unlock()
	if known {
		return nil
	}
	nsRes := b.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	_, err := nsRes.Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace"}}
		obj.SetName(ns)
		_, err = nsRes.Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, b.mapErr(err))
	}
	b.mu.Lock()
	b.nsKnown[ns] = true
	b.mu.Unlock()
	return nil
}

// installCRD creates the StoreResource definition if absent and waits
// until it is established and served.
func (b *Backend) installCRD(ctx context.Context) error {
	crds := b.dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	var def unstructured.Unstructured
	if err := def.UnmarshalJSON([]byte(crdJSON)); err != nil {
		panic(fmt.Sprintf("kube: the StoreResource definition does not parse: %v", err))
	}
	if _, err := crds.Create(ctx, &def, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kube: install %s: %w", crdName, b.mapErr(err))
	}
	deadline := time.Now().Add(crdEstablishGuard)
	for {
		got, err := crds.Get(ctx, crdName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("kube: read %s: %w", crdName, b.mapErr(err))
		}
		if established(got) {
			_, err := b.dyn.Resource(crdGVR).List(ctx, metav1.ListOptions{Limit: 1})
			if err == nil {
				return nil
			}
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("kube: list %s: %w", crdName, b.mapErr(err))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube: %s at %s not served within %s", crdName, b.url, crdEstablishGuard)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	return slices.ContainsFunc(conds, func(c any) bool {
		m, _ := c.(map[string]any)
		return m["type"] == "Established" && m["status"] == "True"
	})
}

// crdJSON defines StoreResource: a cluster-scoped object per store
// resource, its name a digest of the ref (objectName), holding the ref,
// face, format, payload (base64) and the backend's version bookkeeping.
const crdJSON = `{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "` + crdName + `"},
  "spec": {
    "group": "` + crdGroup + `",
    "scope": "Cluster",
    "names": {"kind": "` + crdKind + `", "listKind": "` + crdKind + `List", "plural": "` + crdResource + `", "singular": "storeresource"},
    "versions": [{
      "name": "` + crdVersion + `", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {
        "type": "object",
        "required": ["spec"],
        "properties": {
          "spec": {
            "type": "object",
            "required": ["kind", "name", "face", "format", "version"],
            "properties": {
              "kind": {"type": "string", "maxLength": 253},
              "namespace": {"type": "string", "maxLength": 253},
              "name": {"type": "string", "maxLength": 253},
              "face": {"type": "string", "maxLength": 253},
              "format": {"type": "string", "maxLength": 16},
              "payload": {"type": "string", "format": "byte"},
              "version": {"type": "integer", "format": "int64", "minimum": 1},
              "createRevision": {"type": "integer", "format": "int64", "minimum": 1}
            }
          }
        }
      }}
    }]
  }
}`
