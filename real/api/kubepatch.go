package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/yaml"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// The patch types a PATCH takes (kube-apiserver's, by Content-Type).
const (
	mergePatch     = "application/merge-patch+json"
	jsonPatch      = "application/json-patch+json"
	strategicPatch = "application/strategic-merge-patch+json"
	applyPatch     = "application/apply-patch+yaml"
)

// kubeWriteRetries bounds how often a patch is re-applied to a newer
// object when another write won the race (kube-apiserver's
// GuaranteedUpdate retries the same way).
const kubeWriteRetries = 8

// A JSON patch's "copy" operations may add at most face.InputBytesMax
// bytes, the most a stored object holds: each copy may double the
// object, so a patch of a few kilobytes could otherwise ask for gigabytes
// before the result's size is checked. json-patch v4 takes the bound only
// as a package variable (kube-apiserver sets it too, JSONPatchMaxCopyBytes);
// nothing else in revoada applies JSON patches.
func init() { jsonpatch.AccumulatedCopySizeLimit = face.InputBytesMax }

func yamlToJSON(data []byte) ([]byte, error) { return yaml.YAMLToJSONStrict(data) }

func (s *Server) kubePatch(w http.ResponseWriter, r *http.Request, t kubeTarget) error {
	pt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	pt = strings.TrimSpace(pt)
	switch pt {
	case mergePatch, jsonPatch, applyPatch:
	case strategicPatch:
		if _, err := face.BuiltinScheme().New(t.gvk); err != nil {
			return kubeUnsupportedMediaType(pt + " (a strategic merge patch needs a built-in kind; send a JSON merge patch)")
		}
	default:
		return kubeUnsupportedMediaType(pt)
	}
	q := r.URL.Query()
	manager := q.Get("fieldManager")
	force := q.Get("force") == "true"
	if pt == applyPatch && manager == "" {
		return kubeBadRequest("fieldManager is required for apply requests")
	}
	if pt != applyPatch && q.Has("force") {
		return kubeBadRequest("force is only allowed for apply requests")
	}
	patch, done, err := s.kubeBody(w, r)
	if err != nil {
		return err
	}
	defer done()
	if pt == applyPatch {
		if patch, err = yamlToJSON(patch); err != nil {
			return kubeBadRequest("the apply configuration: %v", err)
		}
	}
	for try := 0; ; try++ {
		cur, curObj, err := s.kubeCurrent(r.Context(), t)
		created := errors.Is(err, store.ErrNotFound) && pt == applyPatch
		switch {
		case created:
			curObj = map[string]any{"apiVersion": t.gvk.GroupVersion().String(), "kind": t.gvk.Kind,
				"metadata": map[string]any{"name": t.name, "creationTimestamp": time.Now().UTC().Format(time.RFC3339)}}
			if t.namespace != "" {
				curObj["metadata"].(map[string]any)["namespace"] = t.namespace
			}
		case err != nil:
			return err
		}
		before := kubeComparable(curObj)
		obj, err := kubePatched(t, pt, curObj, patch, manager, force)
		if err != nil {
			return err
		}
		if _, err := kubeCheckIdentity(obj, &t, false); err != nil {
			return err
		}
		kubeKeepServerFields(curObj, obj)
		exp := store.Expect{Set: true, Revision: cur.ModRevision}
		if !created {
			// A resourceVersion the patch set is the client's precondition.
			curRV := strconv.FormatUint(uint64(cur.ModRevision), 10)
			if rv, _ := obj["metadata"].(map[string]any)["resourceVersion"].(string); rv != curRV {
				if exp, err = kubePrecondition(obj, cur.ModRevision); err != nil {
					return err
				}
				try = kubeWriteRetries
			}
		}
		delete(obj["metadata"].(map[string]any), "resourceVersion")
		if !created && exp.Revision == cur.ModRevision && bytes.Equal(kubeComparable(obj), before) {
			// A patch that changes nothing writes nothing, as
			// kube-apiserver: no new revision, no watch event.
			body, err := kubeObject(cur)
			if err != nil {
				return err
			}
			s.writeRaw(w, http.StatusOK, body)
			return nil
		}
		stored, err := s.kubeStore(r.Context(), t, obj, exp)
		var ce *store.ConflictError
		if errors.As(err, &ce) && try < kubeWriteRetries && r.Context().Err() == nil {
			continue // another write won: patch the newer object
		}
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		s.writeRaw(w, status, stored)
		return nil
	}
}

// kubeComparable is obj's JSON without what a write that changes nothing
// still changes: its resourceVersion and its managed fields' times.
func kubeComparable(obj map[string]any) []byte {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	c, err := kubeUnmarshal(b)
	if err != nil {
		return nil
	}
	if meta, ok := c["metadata"].(map[string]any); ok {
		delete(meta, "resourceVersion")
		if mf, ok := meta["managedFields"].([]any); ok {
			for _, e := range mf {
				if entry, ok := e.(map[string]any); ok {
					delete(entry, "time")
				}
			}
		}
	}
	b, _ = json.Marshal(c)
	return b
}

// kubePatched applies a patch of type pt to the object cur.
func kubePatched(t kubeTarget, pt string, cur map[string]any, patch []byte, manager string, force bool) (map[string]any, error) {
	curJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("api: encoding the stored object: %w", err)
	}
	var out []byte
	switch pt {
	case mergePatch:
		out, err = jsonpatch.MergePatch(curJSON, patch)
	case jsonPatch:
		var p jsonpatch.Patch
		if p, err = jsonpatch.DecodePatch(patch); err == nil {
			out, err = p.Apply(curJSON)
		}
	case strategicPatch:
		var typed runtime.Object
		if typed, err = face.BuiltinScheme().New(t.gvk); err == nil {
			out, err = strategicpatch.StrategicMergePatch(curJSON, patch, typed)
		}
	case applyPatch:
		return kubeApply(t, cur, patch, manager, force)
	}
	if tooMuch := (*jsonpatch.AccumulatedCopySizeError)(nil); errors.As(err, &tooMuch) {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the JSON patch copies more than %d bytes: %v", face.InputBytesMax, err))
	}
	if err != nil {
		return nil, kubeBadRequest("the %s patch does not apply: %v", pt, err)
	}
	obj, err := kubeUnmarshal(out)
	if err != nil {
		return nil, kubeBadRequest("the patched object is not a JSON object: %v", err)
	}
	if err := kubeManageUpdate(t, cur, obj, manager); err != nil {
		return nil, err
	}
	return obj, nil
}

// kubeApply is server-side apply: Kubernetes' own field manager merges
// the apply configuration into the live object and records who owns
// which field in metadata.managedFields; a field another manager owns is
// a 409 Conflict unless force.
func kubeApply(t kubeTarget, cur map[string]any, patch []byte, manager string, force bool) (map[string]any, error) {
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(patch); err != nil {
		return nil, kubeBadRequest("the apply configuration: %v", err)
	}
	if applied.GroupVersionKind() != t.gvk {
		return nil, kubeBadRequest("the apply configuration is %s, and this path serves %s", applied.GroupVersionKind(), t.gvk)
	}
	if err := kubeApplyShape(t.gvk, applied); err != nil {
		return nil, err
	}
	fm, err := kubeFieldManager(t.gvk)
	if err != nil {
		return nil, err
	}
	live := &unstructured.Unstructured{Object: cur}
	out, err := fm.Apply(live, applied, manager, force)
	if err != nil {
		return nil, err // a StatusError: a 409 Conflict naming the fields, or a 400/422
	}
	u, ok := out.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("api: server-side apply gave a %T", out)
	}
	return u.Object, nil
}

// kubeApplyShape checks an apply configuration of a built-in kind against
// the kind's schema, so that a field of the wrong type is the client's
// 400 naming it; the field manager would find it too, but answer an
// error that does not say whose it is (a 500). A custom kind's schema is
// not read (kubeFieldManager), so any shape fits it here; the face judges
// the applied object.
func kubeApplyShape(gvk schema.GroupVersionKind, applied *unstructured.Unstructured) error {
	if _, err := face.BuiltinScheme().New(gvk); err != nil {
		return nil
	}
	if _, err := builtinTypes().ObjectToTyped(applied); err != nil {
		return kubeBadRequest("the apply configuration does not fit %s's schema: %v", gvk.Kind, err)
	}
	return nil
}

// kubeManageUpdate records a non-apply write by manager in obj's
// managedFields, as kube-apiserver does for every update, so that a later
// server-side apply knows who set what. A write with no manager named is
// recorded as kube-apiserver records one: by the client's name, here
// "unknown".
func kubeManageUpdate(t kubeTarget, cur, obj map[string]any, manager string) error {
	fm, err := kubeFieldManager(t.gvk)
	if err != nil {
		return err
	}
	if manager == "" {
		manager = "unknown"
	}
	if cur == nil {
		cur = map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": map[string]any{}}
	}
	// Update, not UpdateNoErrors, which logs "[SHOULD NOT HAPPEN]" through
	// klog to stderr: an object the schema does not fit fails here before
	// the face refuses it, naming the field. As UpdateNoErrors does, such
	// an object keeps no managed fields.
	out, err := fm.Update(&unstructured.Unstructured{Object: cur}, &unstructured.Unstructured{Object: obj}, manager)
	if err != nil {
		if meta, ok := obj["metadata"].(map[string]any); ok {
			delete(meta, "managedFields")
		}
		return nil
	}
	if u, ok := out.(*unstructured.Unstructured); ok {
		managed := maps.Clone(u.Object) // may be obj itself
		clear(obj)
		maps.Copy(obj, managed)
	}
	return nil
}

// fieldManagers caches a field manager per kind and version: building one
// parses the kind's schema.
var fieldManagers sync.Map // schema.GroupVersionKind → *managedfields.FieldManager

// builtinTypes converts the built-in kinds with their real schemas
// (client-go's, which kubectl's own server-side apply uses), so lists
// like containers merge by key.
var builtinTypes = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(face.BuiltinScheme())
})

func kubeFieldManager(gvk schema.GroupVersionKind) (*managedfields.FieldManager, error) {
	if fm, ok := fieldManagers.Load(gvk); ok {
		return fm.(*managedfields.FieldManager), nil
	}
	var fm *managedfields.FieldManager
	var err error
	if _, isBuiltin := face.BuiltinScheme().New(gvk); isBuiltin == nil {
		fm, err = managedfields.NewDefaultFieldManager(builtinTypes(), unstructuredConverter{}, noDefaults{}, unstructuredCreater{},
			gvk, gvk.GroupVersion(), "", nil)
	} else {
		// A custom kind's schema is not read: its fields merge as
		// kube-apiserver merges a definition without one (lists atomic).
		fm, err = managedfields.NewDefaultCRDFieldManager(managedfields.NewDeducedTypeConverter(), unstructuredConverter{}, noDefaults{},
			unstructuredCreater{}, gvk, gvk.GroupVersion(), "", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("api: a field manager for %s: %w", gvk, err)
	}
	got, _ := fieldManagers.LoadOrStore(gvk, fm)
	return got.(*managedfields.FieldManager), nil
}

// unstructuredConverter converts objects of the one version revoada
// serves a kind at: to that version, as they are.
type unstructuredConverter struct{}

func (unstructuredConverter) Convert(in, out, context any) error {
	return errors.New("api: no conversion between object types")
}

func (unstructuredConverter) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	gvk := in.GetObjectKind().GroupVersionKind()
	target, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{gvk})
	if !ok || target != gvk {
		return nil, fmt.Errorf("api: %s is served at one version only, not converted to %v", gvk, gv)
	}
	return in, nil
}

func (unstructuredConverter) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
