package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// The Kubernetes front door: the Kubernetes face's kinds served at
// kube-apiserver's paths, for kubectl and client-go. It keeps to what a
// kubectl needs (../shared/research/production-node.md §3): discovery,
// OpenAPI v3 documents naming each kind's PATCH and its fieldValidation
// parameter, create, get, list (as a Table on request), update, patch
// (JSON merge, JSON patch, strategic merge for built-in kinds, and
// server-side apply with managed fields), delete and watch, with errors
// as Status objects. The store's ModRevision is the resourceVersion.
//
// What it does not do, and says so: dry runs, subresources (status,
// scale, log, exec), collection deletes, cluster-scoped custom kinds (the
// face stores custom resources namespaced), and conversion between a
// kind's versions (an object is served as it was stored).

// kubeVersion is the Kubernetes version the front door speaks.
const kubeVersion = "v1.37.2"

// kubeFace decodes and encodes the front door's objects.
var kubeFace = func() face.Face {
	f, err := face.ByName(face.Kubernetes)
	if err != nil {
		panic(err) // a built-in face
	}
	return f
}()

// kubeTarget is what a request's path names: a kind at a group and
// version, and a namespace and name when given.
type kubeTarget struct {
	info      face.KindInfo
	gvk       schema.GroupVersionKind
	namespace string // "" for a cluster-scoped kind, or a list across namespaces
	name      string // "" for the collection
}

func (t kubeTarget) resource() schema.GroupResource {
	return schema.GroupResource{Group: t.gvk.Group, Resource: t.info.Plural}
}

func (t kubeTarget) ref() store.Ref {
	return store.Ref{Kind: t.info.Kind, Namespace: t.namespace, Name: t.name}
}

// kubeRoutes adds the front door to mux.
func (s *Server) kubeRoutes(mux *http.ServeMux) {
	mux.Handle("GET /version", s.kubeRoute(s.kubeVersion))
	mux.Handle("GET /api", s.kubeRoute(s.kubeAPIVersions))
	mux.Handle("GET /apis", s.kubeRoute(s.kubeGroups))
	mux.Handle("GET /openapi/v3", s.kubeRoute(s.kubeOpenAPIRoot))
	mux.Handle("GET /openapi/v3/{path...}", s.kubeRoute(s.kubeOpenAPI))
	mux.Handle("/api/", s.kubeRoute(s.kubeResources))
	mux.Handle("/apis/", s.kubeRoute(s.kubeResources))
}

// kubeRoute authenticates and authorises a request (a read needs
// read-only, anything else read-write), serves it, and writes an error as
// a Kubernetes Status.
func (s *Server) kubeRoute(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := ReadOnly
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			need = ReadWrite
		}
		user, err := s.cfg.Access.allow(r, need)
		if errors.Is(err, ErrForbidden) {
			err = kubeForbidden(r, user, err)
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.cfg.Logger.Debug("api: kubernetes request refused", "user", user, "method", r.Method, "path", r.URL.Path, "err", err)
			s.kubeFail(w, r, err)
		}
	})
}

// kubeForbidden is kube-apiserver's Forbidden for user's request: what it
// may not do to which resource (read from the path as it stands: nothing
// is looked up for a user who may not read).
func kubeForbidden(r *http.Request, user string, err error) error {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var gr schema.GroupResource
	var ns, name string
	rest := []string{}
	switch {
	case parts[0] == "api" && len(parts) > 2:
		rest = parts[2:]
	case parts[0] == "apis" && len(parts) > 3:
		gr.Group, rest = parts[1], parts[3:]
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		ns, rest = rest[1], rest[2:]
	}
	if len(rest) > 0 {
		gr.Resource = rest[0]
	}
	if len(rest) > 1 {
		name = rest[1]
	}
	verb := map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}[r.Method]
	switch {
	case verb != "":
	case name != "":
		verb = "get"
	case kubeWatching(r):
		verb = "watch"
	default:
		verb = "list"
	}
	if gr.Resource == "" {
		return apierrors.NewForbidden(gr, "", fmt.Errorf("User %q cannot %s path %q (%w)", user, strings.ToLower(r.Method), r.URL.Path, err))
	}
	where := ""
	if ns != "" {
		where = fmt.Sprintf(" in the namespace %q", ns)
	}
	return apierrors.NewForbidden(gr, name, fmt.Errorf("User %q cannot %s resource %q in API group %q%s (%w)", user, verb, gr.Resource, gr.Group, where, err))
}

// kubeError is an error about a kind's resource, for its Status.
type kubeError struct {
	t   kubeTarget
	err error
}

func (e *kubeError) Error() string { return e.err.Error() }
func (e *kubeError) Unwrap() error { return e.err }

// kubeStatus is err as a Kubernetes Status, with its HTTP status.
func kubeStatus(err error) *apierrors.StatusError {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return se
	}
	var t kubeTarget
	if ke := (*kubeError)(nil); errors.As(err, &ke) {
		t = ke.t
	}
	gr, name := t.resource(), t.name
	msg := err.Error()
	var ce *store.ConflictError
	var ie *store.InvalidError
	_, status := ToError(err)
	switch {
	case errors.As(err, &ce) && ce.Want == 0 && ce.Current != 0:
		return apierrors.NewAlreadyExists(gr, cmpName(name, ce.Ref.Name))
	case errors.As(err, &ce):
		return apierrors.NewConflict(gr, cmpName(name, ce.Ref.Name), errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.As(err, &ie):
		return apierrors.NewInvalid(schema.GroupKind{Group: t.gvk.Group, Kind: t.gvk.Kind}, name, field.ErrorList{
			&field.Error{Type: field.ErrorTypeInvalid, Field: ie.Field, BadValue: field.OmitValueType{}, Detail: ie.Reason}})
	case errors.Is(err, store.ErrInvalid):
		return apierrors.NewInvalid(schema.GroupKind{Group: t.gvk.Group, Kind: t.gvk.Kind}, name, field.ErrorList{
			&field.Error{Type: field.ErrorTypeInvalid, Field: "", BadValue: field.OmitValueType{}, Detail: msg}})
	case errors.Is(err, store.ErrCompacted):
		return apierrors.NewResourceExpired(msg)
	}
	switch status {
	case http.StatusUnauthorized:
		return apierrors.NewUnauthorized(msg)
	case http.StatusForbidden:
		return apierrors.NewForbidden(gr, name, err)
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	case http.StatusRequestEntityTooLarge:
		return apierrors.NewRequestEntityTooLargeError(msg)
	case http.StatusTooManyRequests:
		return apierrors.NewTooManyRequests(msg, 1)
	case http.StatusGatewayTimeout:
		return apierrors.NewTimeoutError(msg, 1)
	case http.StatusServiceUnavailable:
		return apierrors.NewServiceUnavailable(msg)
	case http.StatusNotFound:
		return apierrors.NewNotFound(gr, name)
	}
	return apierrors.NewInternalError(err)
}

func cmpName(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) kubeFail(w http.ResponseWriter, r *http.Request, err error) {
	st := kubeStatus(err).Status()
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="revoada"`)
	}
	s.writeJSON(w, r, int(st.Code), st)
}

// kubeBadRequest is a BadRequest Status with a message.
func kubeBadRequest(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

// kubeUnsupportedMediaType is a 415 naming the content type refused.
func kubeUnsupportedMediaType(ct string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
		Reason: metav1.StatusReasonUnsupportedMediaType, Message: fmt.Sprintf("the body of the request was in an unknown format: %s", ct)}}
}

func (s *Server) kubeVersion(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, map[string]string{
		"major": "1", "minor": strings.Split(kubeVersion, ".")[1], "gitVersion": kubeVersion + "+revoada",
		"goVersion": "", "platform": "revoada",
	})
	return nil
}

// kubeKinds are the kinds the front door serves: the Kubernetes face's
// built-in kinds and those the stored CustomResourceDefinitions define
// (read linearizably, so a definition just applied is served).
func (s *Server) kubeKinds(ctx context.Context) ([]face.KindInfo, error) {
	crds, err := s.cfg.Backend.List(ctx, "CustomResourceDefinition", "", backend.ReadOptions{})
	if err != nil {
		return nil, err
	}
	var out []face.KindInfo
	for _, k := range face.Kinds(nil, crds.Items) {
		if k.Face == face.Kubernetes && k.Plural != "" && !(k.Custom && k.ClusterScoped) {
			out = append(out, k)
		}
	}
	return out, nil
}

// kubeResolve finds the kind served as plural at group/version.
func kubeResolve(kinds []face.KindInfo, group, version, plural string) (face.KindInfo, bool) {
	for _, k := range kinds {
		if k.Plural == plural && kubeServesAt(k, group, version) {
			return k, true
		}
	}
	return face.KindInfo{}, false
}

// kubeServesAt reports whether k is served at group/version.
func kubeServesAt(k face.KindInfo, group, version string) bool {
	return slices.ContainsFunc(k.Groups, func(g face.Group) bool { return g.Name == group && slices.Contains(g.Versions, version) })
}

// kubeResources serves /api/v1/... and /apis/GROUP/VERSION/...: the
// discovery of one group version, or a resource or collection of it.
func (s *Server) kubeResources(w http.ResponseWriter, r *http.Request) error {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group, version string
	var rest []string
	switch {
	case parts[0] == "api" && len(parts) >= 2:
		version, rest = parts[1], parts[2:]
	case parts[0] == "apis" && len(parts) == 2 && r.Method == http.MethodGet:
		return s.kubeGroup(w, r, parts[1])
	case parts[0] == "apis" && len(parts) >= 3:
		group, version, rest = parts[1], parts[2], parts[3:]
	default:
		return apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path)
	}
	kinds, err := s.kubeKinds(r.Context())
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			return apierrors.NewMethodNotSupported(schema.GroupResource{Group: group}, r.Method)
		}
		return s.kubeResourceList(w, r, kinds, group, version)
	}
	var t kubeTarget
	var plural string
	switch len(rest) {
	case 1:
		plural = rest[0]
	case 2:
		plural, t.name = rest[0], rest[1]
	case 3:
		if rest[0] != "namespaces" {
			return apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: rest[0]}, rest[1]+"/"+rest[2])
		}
		t.namespace, plural = rest[1], rest[2]
	case 4:
		if rest[0] != "namespaces" {
			return apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: rest[0]}, rest[1])
		}
		t.namespace, plural, t.name = rest[1], rest[2], rest[3]
	default:
		return apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: strings.Join(rest, "/")},
			"subresources (status, scale, log, exec) are not served")
	}
	info, ok := kubeResolve(kinds, group, version, plural)
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: plural}, "")
	}
	t.info, t.gvk = info, schema.GroupVersionKind{Group: group, Version: version, Kind: info.Kind}
	if info.ClusterScoped && t.namespace != "" {
		return apierrors.NewNotFound(t.resource(), t.name)
	}
	if !info.ClusterScoped && t.namespace == "" && t.name != "" {
		// /api/v1/pods/NAME: a namespaced kind named without a namespace.
		return apierrors.NewNotFound(t.resource(), t.name)
	}
	for _, part := range []string{t.namespace, t.name} {
		if part != "" {
			if err := (store.Ref{Kind: info.Kind, Name: part}).Validate(); err != nil {
				return &kubeError{t: t, err: err}
			}
		}
	}
	if err := kubeNoDryRun(r); err != nil {
		return err
	}
	var herr error
	switch {
	case r.Method == http.MethodGet && t.name == "" && kubeWatching(r):
		herr = s.kubeWatch(w, r, t)
	case r.Method == http.MethodGet && t.name == "":
		herr = s.kubeList(w, r, t)
	case r.Method == http.MethodGet:
		herr = s.kubeGet(w, r, t)
	case r.Method == http.MethodPost && t.name == "":
		herr = s.kubeCreate(w, r, t)
	case r.Method == http.MethodPut && t.name != "":
		herr = s.kubeUpdate(w, r, t)
	case r.Method == http.MethodPatch && t.name != "":
		herr = s.kubePatch(w, r, t)
	case r.Method == http.MethodDelete && t.name != "":
		herr = s.kubeDelete(w, r, t)
	default:
		herr = apierrors.NewMethodNotSupported(t.resource(), r.Method)
	}
	var se *apierrors.StatusError
	var ke *kubeError
	if herr != nil && !errors.As(herr, &se) && !errors.As(herr, &ke) {
		herr = &kubeError{t: t, err: herr}
	}
	return herr
}

// kubeNoDryRun refuses a dry run: revoada cannot run a write without
// making it, and must not make one asked to be dry.
func kubeNoDryRun(r *http.Request) error {
	if r.URL.Query().Has("dryRun") {
		return kubeBadRequest("dryRun is not supported by revoada: nothing was changed")
	}
	return nil
}

func kubeWatching(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}

// kubeReadOptions maps resourceVersion=0 ("any version", served from a
// cache in kube-apiserver) to a local read; anything else is linearizable.
func kubeReadOptions(r *http.Request) backend.ReadOptions {
	return backend.ReadOptions{Local: r.URL.Query().Get("resourceVersion") == "0"}
}

// kubeObject is a stored resource as the JSON object Kubernetes serves,
// with metadata.resourceVersion its ModRevision.
func kubeObject(res store.Resource) ([]byte, error) {
	if res.Face != face.Kubernetes {
		return nil, fmt.Errorf("%w: %s was stored by the %s face, not kubernetes", store.ErrUnsupported, res.Ref, res.Face)
	}
	return kubeFace.Encode(res, store.JSON)
}

func (s *Server) kubeGet(w http.ResponseWriter, r *http.Request, t kubeTarget) error {
	opt := kubeReadOptions(r)
	res, rev, behind, err := getBehind(r.Context(), s.cfg.Backend, t.ref(), opt)
	readHeaders(w, rev, behind, opt)
	if err != nil {
		return err
	}
	body, err := kubeObject(res)
	if err != nil {
		return err
	}
	if as := kubeTableAsked(r); as != "" {
		return s.kubeWriteTable(w, r, t, rev, [][]byte{body}, as)
	}
	s.writeRaw(w, http.StatusOK, body)
	return nil
}

// writeRaw writes a JSON body as the whole answer.
func (s *Server) writeRaw(w http.ResponseWriter, status int, body []byte) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.lim.WriteWaitMax))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// kubeSelector is a list's or watch's labelSelector and fieldSelector
// (metadata.name and metadata.namespace, the fields every kind has).
type kubeSelector struct {
	labels labels.Selector
	fields fields.Selector
}

func kubeSelectorOf(r *http.Request) (kubeSelector, error) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return kubeSelector{}, kubeBadRequest("labelSelector: %v", err)
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return kubeSelector{}, kubeBadRequest("fieldSelector: %v", err)
	}
	for _, req := range fs.Requirements() {
		if req.Field != "metadata.name" && req.Field != "metadata.namespace" {
			return kubeSelector{}, kubeBadRequest("fieldSelector: field label not supported: %s (revoada selects on metadata.name and metadata.namespace)", req.Field)
		}
	}
	return kubeSelector{labels: ls, fields: fs}, nil
}

// matches reports whether the object body (its JSON) is selected.
func (k kubeSelector) matches(res store.Resource, body []byte) bool {
	if !k.fields.Empty() && !k.fields.Matches(fields.Set{"metadata.name": res.Ref.Name, "metadata.namespace": res.Ref.Namespace}) {
		return false
	}
	if k.labels.Empty() {
		return true
	}
	var obj struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if json.Unmarshal(body, &obj) != nil {
		return false
	}
	return k.labels.Matches(labels.Set(obj.Metadata.Labels))
}

func (s *Server) kubeList(w http.ResponseWriter, r *http.Request, t kubeTarget) error {
	sel, err := kubeSelectorOf(r)
	if err != nil {
		return err
	}
	opt := kubeReadOptions(r)
	l, err := s.cfg.Backend.List(r.Context(), t.info.Kind, t.namespace, opt)
	if err != nil {
		return err
	}
	readHeaders(w, l.Revision, l.Behind, opt)
	items := make([][]byte, 0, len(l.Items))
	for _, res := range l.Items {
		if res.Face != face.Kubernetes {
			continue // a kind another face shares (a BareMetal Pod)
		}
		body, err := kubeObject(res)
		if err != nil {
			return err
		}
		if sel.matches(res, body) {
			items = append(items, body)
		}
	}
	if as := kubeTableAsked(r); as != "" {
		return s.kubeWriteTable(w, r, t, l.Revision, items, as)
	}
	raw := make([]json.RawMessage, len(items))
	for i, it := range items {
		raw[i] = it
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"apiVersion": t.gvk.GroupVersion().String(),
		"kind":       t.info.Kind + "List",
		"metadata":   metav1.ListMeta{ResourceVersion: strconv.FormatUint(uint64(l.Revision), 10)},
		"items":      raw,
	})
	return nil
}

// kubeBody reads a write's body, bounded by face.InputBytesMax and
// Limits.BodyWaitMax, holding one of the AppliesMax tokens until done.
func (s *Server) kubeBody(w http.ResponseWriter, r *http.Request) ([]byte, func(), error) {
	select {
	case s.applies <- struct{}{}:
	default:
		return nil, nil, fmt.Errorf("%w: %d writes served at once, the limit", ErrTooMany, s.lim.AppliesMax)
	}
	done := func() { <-s.applies }
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.lim.BodyWaitMax))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, face.InputBytesMax))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, face.InputBytesMax)
	case err != nil:
		err = fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	return data, done, nil
}

// kubeReadObject reads a create's or update's body (kubeBody) as one
// object; done releases the write's token.
func (s *Server) kubeReadObject(w http.ResponseWriter, r *http.Request) (map[string]any, func(), error) {
	data, done, err := s.kubeBody(w, r)
	if err != nil {
		return nil, nil, err
	}
	obj, err := kubeDecodeBody(r, data)
	if err != nil {
		done()
		return nil, nil, err
	}
	return obj, done, nil
}

func (s *Server) kubeCreate(w http.ResponseWriter, r *http.Request, t kubeTarget) error {
	obj, done, err := s.kubeReadObject(w, r)
	if err != nil {
		return err
	}
	defer done()
	if t.name, err = kubeCheckIdentity(obj, &t, true); err != nil {
		return err
	}
	meta := obj["metadata"].(map[string]any)
	meta["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
	delete(meta, "resourceVersion")
	if err := kubeManageUpdate(t, nil, obj, r.URL.Query().Get("fieldManager")); err != nil {
		return err
	}
	stored, err := s.kubeStore(r.Context(), t, obj, store.Expect{Set: true})
	if err != nil {
		return &kubeError{t: t, err: err} // t names the object now
	}
	s.writeRaw(w, http.StatusCreated, stored)
	return nil
}

func (s *Server) kubeUpdate(w http.ResponseWriter, r *http.Request, t kubeTarget) error {
	obj, done, err := s.kubeReadObject(w, r)
	if err != nil {
		return err
	}
	defer done()
	if _, err := kubeCheckIdentity(obj, &t, false); err != nil {
		return err
	}
	cur, curObj, err := s.kubeCurrent(r.Context(), t)
	if err != nil {
		return err
	}
	before := kubeComparable(curObj)
	exp, err := kubePrecondition(obj, cur.ModRevision)
	if err != nil {
		return err
	}
	kubeKeepServerFields(curObj, obj)
	if err := kubeManageUpdate(t, curObj, obj, r.URL.Query().Get("fieldManager")); err != nil {
		return err
	}
	if exp.Revision == cur.ModRevision && bytes.Equal(kubeComparable(obj), before) {
		body, err := kubeObject(cur) // an update that changes nothing writes nothing
		if err != nil {
			return err
		}
		s.writeRaw(w, http.StatusOK, body)
		return nil
	}
	stored, err := s.kubeStore(r.Context(), t, obj, exp)
	if err != nil {
		return err
	}
	s.writeRaw(w, http.StatusOK, stored)
	return nil
}

// kubePrecondition is the write's expectation: the resourceVersion the
// object names, else the revision it was read at.
func kubePrecondition(obj map[string]any, read store.Revision) (store.Expect, error) {
	meta, _ := obj["metadata"].(map[string]any)
	raw := meta["resourceVersion"]
	delete(meta, "resourceVersion")
	rv, ok := raw.(string)
	if !ok && raw != nil {
		// Dropping it would make the write unconditional.
		return store.Expect{}, kubeBadRequest("metadata.resourceVersion: %v is a %T, not a string", raw, raw)
	}
	if rv == "" {
		return store.Expect{Set: true, Revision: read}, nil
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil || n == 0 {
		return store.Expect{}, kubeBadRequest("metadata.resourceVersion: %q is not a resourceVersion this server gave", rv)
	}
	return store.Expect{Set: true, Revision: store.Revision(n)}, nil
}

// kubeKeepServerFields carries what the server owns from the stored
// object into a new one: creationTimestamp.
func kubeKeepServerFields(cur, obj map[string]any) {
	curMeta, _ := cur["metadata"].(map[string]any)
	meta, _ := obj["metadata"].(map[string]any)
	if ts, ok := curMeta["creationTimestamp"]; ok && meta != nil {
		meta["creationTimestamp"] = ts
	} else if meta != nil {
		delete(meta, "creationTimestamp")
	}
}

// kubeCurrent reads t's resource linearizably, as an object.
func (s *Server) kubeCurrent(ctx context.Context, t kubeTarget) (store.Resource, map[string]any, error) {
	res, err := s.cfg.Backend.Get(ctx, t.ref(), backend.ReadOptions{})
	if err != nil {
		return store.Resource{}, nil, err
	}
	body, err := kubeObject(res)
	if err != nil {
		return store.Resource{}, nil, err
	}
	obj, err := kubeUnmarshal(body)
	if err != nil {
		return store.Resource{}, nil, fmt.Errorf("api: a stored object does not parse: %w", err)
	}
	return res, obj, nil
}

// kubeUnmarshal parses a JSON object as unstructured content: an integer
// an int64 (exact: the face stores every int64 exactly, where float64
// would round one past 2^53), any other number a float64, as
// k8s.io/apimachinery's unstructured decoding does.
func kubeUnmarshal(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the object")
	}
	if obj == nil {
		return nil, errors.New("null, not an object")
	}
	return kubeNumbers(obj).(map[string]any), nil
}

// kubeNumbers turns the json.Numbers of v into int64s or float64s.
func kubeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = kubeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = kubeNumbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// kubeStore validates obj with the Kubernetes face and writes it if exp
// holds, answering the stored object.
func (s *Server) kubeStore(ctx context.Context, t kubeTarget, obj map[string]any, exp store.Expect) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	docs, err := kubeFace.Decode("request body", data, store.JSON)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 || docs[0].Ref != t.ref() {
		return nil, kubeBadRequest("the body must be one %s named %q", t.info.Kind, t.name)
	}
	docs[0].Face = face.Kubernetes
	stored, err := s.cfg.Backend.Apply(context.WithoutCancel(ctx), docs[0], exp)
	if err != nil {
		return nil, err
	}
	return kubeObject(stored)
}

// kubeDecodeBody parses a create's or update's body: one JSON (or YAML)
// object.
func kubeDecodeBody(r *http.Request, data []byte) (map[string]any, error) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	switch strings.TrimSpace(ct) {
	case "application/json", "":
	case "application/yaml":
		j, err := yamlToJSON(data)
		if err != nil {
			return nil, kubeBadRequest("the body: %v", err)
		}
		data = j
	default:
		return nil, kubeUnsupportedMediaType(ct)
	}
	obj, err := kubeUnmarshal(data)
	if err != nil {
		return nil, kubeBadRequest("the body is not a JSON object: %v", err)
	}
	return obj, nil
}

// kubeCheckIdentity checks that obj is of t's kind and group version, in
// t's namespace, and (for an update or patch) named t.name; a create takes
// its name from obj. A namespaced object without a namespace takes t's.
func kubeCheckIdentity(obj map[string]any, t *kubeTarget, create bool) (string, error) {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	if kind != t.gvk.Kind || apiVersion != t.gvk.GroupVersion().String() {
		return "", kubeBadRequest("the object is %s %s, and this path serves %s %s", apiVersion, kind, t.gvk.GroupVersion(), t.gvk.Kind)
	}
	meta, ok := obj["metadata"].(map[string]any)
	if !ok {
		return "", &store.InvalidError{Field: "metadata", Reason: "required object"}
	}
	name, _ := meta["name"].(string)
	switch {
	case create && name == "":
		return "", &store.InvalidError{Field: "metadata.name", Reason: "required (revoada does not generate names)"}
	case !create && name != t.name:
		return "", kubeBadRequest("the name of the object (%q) does not match the name on the URL (%q)", name, t.name)
	}
	ns, _ := meta["namespace"].(string)
	switch {
	case t.info.ClusterScoped:
	case ns == "" && t.namespace != "":
		meta["namespace"] = t.namespace
	case t.namespace == "":
		return "", apierrors.NewMethodNotSupported(t.resource(), "a write without a namespace in the path")
	case ns != t.namespace:
		return "", kubeBadRequest("the namespace of the provided object (%q) does not match the namespace sent on the request (%q)", ns, t.namespace)
	}
	return name, nil
}

// kubeDelete deletes t's object. It reads the object first, so that one
// another face stored (a BareMetal Pod) is refused rather than deleted,
// and deletes it at the revision read (again at a newer one if another
// write won), or at the client's precondition.
func (s *Server) kubeDelete(w http.ResponseWriter, r *http.Request, t kubeTarget) error {
	data, done, err := s.kubeBody(w, r)
	if err != nil {
		return err
	}
	defer done()
	opts, exp, err := kubeDeleteOptions(data)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		cur, curObj, err := s.kubeCurrent(r.Context(), t)
		if err != nil {
			return err
		}
		if err := kubeUIDPrecondition(t, opts, curObj); err != nil {
			return err
		}
		at := exp
		if !at.Set {
			at = store.Expect{Set: true, Revision: cur.ModRevision}
		}
		res, err := s.cfg.Backend.Delete(context.WithoutCancel(r.Context()), t.ref(), at)
		var ce *store.ConflictError
		if errors.As(err, &ce) && !exp.Set && try < kubeWriteRetries && r.Context().Err() == nil {
			continue // another write won: delete the newer object
		}
		if err != nil {
			return err
		}
		body, err := kubeObject(res)
		if err != nil {
			return err
		}
		s.writeRaw(w, http.StatusOK, body)
		return nil
	}
}

// kubeDeleteOptions reads a delete's body, DeleteOptions, which client-go
// and kubectl send there rather than in the query: its dryRun is refused
// as the query's is (kubectl delete --dry-run=server must delete nothing),
// and its preconditions.resourceVersion is the delete's expectation.
func kubeDeleteOptions(data []byte) (metav1.DeleteOptions, store.Expect, error) {
	var opts metav1.DeleteOptions
	if len(strings.TrimSpace(string(data))) == 0 {
		return opts, store.Expect{}, nil
	}
	if err := json.Unmarshal(data, &opts); err != nil {
		return opts, store.Expect{}, kubeBadRequest("the body is not DeleteOptions: %v", err)
	}
	if len(opts.DryRun) > 0 {
		return opts, store.Expect{}, kubeBadRequest("dryRun is not supported by revoada: nothing was changed")
	}
	p := opts.Preconditions
	if p == nil || p.ResourceVersion == nil {
		return opts, store.Expect{}, nil
	}
	n, err := strconv.ParseUint(*p.ResourceVersion, 10, 64)
	if err != nil || n == 0 {
		return opts, store.Expect{}, kubeBadRequest("preconditions.resourceVersion: %q is not a resourceVersion this server gave", *p.ResourceVersion)
	}
	return opts, store.Expect{Set: true, Revision: store.Revision(n)}, nil
}

// kubeUIDPrecondition checks a delete's preconditions.uid against the
// object's metadata.uid (none, unless a client wrote one), as
// kube-apiserver does: a mismatch is a Conflict, never ignored.
func kubeUIDPrecondition(t kubeTarget, opts metav1.DeleteOptions, obj map[string]any) error {
	if opts.Preconditions == nil || opts.Preconditions.UID == nil {
		return nil
	}
	uid := atString(obj, "metadata", "uid")
	if want := string(*opts.Preconditions.UID); want != uid {
		return apierrors.NewConflict(t.resource(), t.name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", want, uid))
	}
	return nil
}
