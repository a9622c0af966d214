package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

// FieldManager is the field manager the backend writes as; the
// apiserver records it in each object's metadata.managedFields.
const FieldManager = "revoada"

// ErrUnreachable wraps every failure to reach the apiserver at New, with
// the URL it tried.
var ErrUnreachable = errors.New("kube: apiserver unreachable")

// Limits.
const (
	// WriteRetriesMax bounds the read-modify-write rounds of an Apply or
	// Delete without a precondition that keeps losing to other writers.
	WriteRetriesMax = 16
	// ListPageMax is the page size of every list (the apiserver's limit
	// and continue).
	ListPageMax = 500
	// discoveryTimeout bounds New's discovery and CRD installation calls.
	discoveryTimeout = 60 * time.Second
	// deleteGuard bounds the wait for the event of a deletion the
	// apiserver answered with a Status.
	deleteGuard = 30 * time.Second
	// countsTimeout bounds the list behind Counts.
	countsTimeout = 10 * time.Second
	// DefaultScope is Options.Scope's default.
	DefaultScope = "default"
)

// Options tune a Backend.
type Options struct {
	// Scope partitions the store's own kinds (the StoreResource custom
	// resource): backends of different scopes over one apiserver hold
	// disjoint sets of them. A DNS label; "" is DefaultScope. Native
	// kinds are the cluster's and are not partitioned.
	Scope string
	// Kinds are the native kinds (Deployment, ConfigMap, ...) that the
	// every-kind operations (List of "", Snapshot, Counts) cover besides
	// the store's own kinds. Watch of "" answers store.ErrUnsupported when
	// Kinds is not empty: see the package doc.
	Kinds []string
	// Etcd is the client URL of the apiserver's etcd (http://host:2379),
	// for Compact; empty, Compact answers store.ErrUnsupported.
	Etcd string
}

// Backend is the store over a kube-apiserver; see the package doc. It is
// safe for concurrent use.
type Backend struct {
	url   string
	rc    rest.Interface
	dyn   dynamic.Interface
	scope string
	kinds []string
	etcd  string

	native map[string]nativeKind                  // store kind → its preferred resource
	served map[schema.GroupVersionKind]nativeKind // every served (group, version, kind)
	failed map[string]bool                        // groups whose discovery failed at New

	subs atomic.Int64

	mu        sync.Mutex
	nsKnown   map[string]bool // namespaces known to exist
	lastCount int             // Counts' last answer, for when the apiserver does not answer
}

var _ backend.Backend = (*Backend)(nil)

// nativeKind is a resource the apiserver serves.
type nativeKind struct {
	gvr        schema.GroupVersionResource
	gvk        schema.GroupVersionKind
	namespaced bool
}

// New connects to the apiserver cfg names, reads its discovery, installs
// the StoreResource custom resource definition if absent and waits for it
// to be established. Errors: ErrUnreachable (naming cfg.Host) when the
// apiserver does not answer; the apiserver's error when it refuses.
func New(ctx context.Context, cfg *rest.Config, opt Options) (*Backend, error) {
	scope := opt.Scope
	if scope == "" {
		scope = DefaultScope
	}
	if err := checkLabel(scope); err != nil {
		return nil, fmt.Errorf("kube: scope: %w", err)
	}
	conf := dynamic.ConfigFor(cfg)
	conf.GroupVersion = nil
	conf.APIPath = "/"
	rc, err := rest.UnversionedRESTClientFor(conf)
	if err != nil {
		return nil, fmt.Errorf("kube: client for %s: %w", cfg.Host, err)
	}
	b := &Backend{
		url: cfg.Host, rc: rc, dyn: dynamic.New(rc), scope: scope, kinds: slices.Clone(opt.Kinds), etcd: opt.Etcd,
		nsKnown: map[string]bool{},
	}
	dcfg := rest.CopyConfig(cfg)
	dcfg.Timeout = discoveryTimeout
	dc, err := discovery.NewDiscoveryClientForConfig(dcfg)
	if err != nil {
		return nil, fmt.Errorf("kube: discovery client for %s: %w", cfg.Host, err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, cfg.Host, err)
	}
	ictx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	if err := b.installCRD(ictx); err != nil {
		return nil, err
	}
	if err := b.discover(dc); err != nil {
		return nil, err
	}
	for _, k := range b.kinds {
		if _, ok := b.native[k]; !ok {
			return nil, fmt.Errorf("kube: %s: %w: Options.Kinds names %q, which the apiserver does not serve", cfg.Host, store.ErrInvalid, k)
		}
	}
	return b, nil
}

// discover reads the apiserver's resources: every kind it serves with the
// verbs a store needs, and for each kind its preferred resource (the core
// group's if it has one, else the first group in discovery's order).
func (b *Backend) discover(dc discovery.DiscoveryInterface) error {
	groups, lists, err := dc.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("kube: discovery at %s: %w", b.url, err)
	}
	// A group whose discovery failed (an aggregated API server that is
	// down) is left out, and its manifests are refused (see target).
	b.failed = map[string]bool{}
	var gdf *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &gdf) {
		for gv := range gdf.Groups {
			b.failed[gv.Group] = true
		}
	}
	preferred := map[string]string{} // group → preferred version
	var order []string
	for _, g := range groups {
		preferred[g.Name] = g.PreferredVersion.Version
		order = append(order, g.Name)
	}
	b.native = map[string]nativeKind{}
	b.served = map[schema.GroupVersionKind]nativeKind{}
	byGroup := map[string]map[string]nativeKind{} // group → kind → preferred version's resource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !storable(r) || gv.Group == crdGroup {
				continue
			}
			nk := nativeKind{gvr: gv.WithResource(r.Name), gvk: gv.WithKind(r.Kind), namespaced: r.Namespaced}
			b.served[nk.gvk] = nk
			if preferred[gv.Group] == gv.Version {
				if byGroup[gv.Group] == nil {
					byGroup[gv.Group] = map[string]nativeKind{}
				}
				byGroup[gv.Group][r.Kind] = nk
			}
		}
	}
	for _, g := range order { // "" (core) is first in discovery's order
		for kind, nk := range byGroup[g] {
			if _, ok := b.native[kind]; !ok {
				b.native[kind] = nk
			}
		}
	}
	return nil
}

// storable: a resource (not a subresource) with every verb a store uses.
func storable(r metav1.APIResource) bool {
	if r.Kind == "" || containsSlash(r.Name) {
		return false
	}
	for _, v := range []string{"create", "get", "list", "watch", "update", "delete"} {
		if !slices.Contains(r.Verbs, v) {
			return false
		}
	}
	return true
}

func containsSlash(s string) bool { return slices.Contains([]byte(s), '/') }

// Name is "kube".
func (b *Backend) Name() string { return "kube" }

// URL is the apiserver's URL.
func (b *Backend) URL() string { return b.url }

// Native reports whether kind is stored as the apiserver's own resource
// (else in the backend's StoreResource custom resource).
func (b *Backend) Native(kind string) bool {
	_, ok := b.home(kind)
	return ok
}

// home is where a kind lives: a native resource, or the store's CRD.
func (b *Backend) home(kind string) (nativeKind, bool) {
	nk, ok := b.native[kind]
	return nk, ok
}

// Apply creates or updates r (see backend.Backend). Each Apply is an
// update of the object even when its content is unchanged: the version it
// writes changes.
func (b *Backend) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	if err := validResource(r); err != nil {
		return store.Resource{}, fmt.Errorf("kube: apply: %w", err)
	}
	t, err := b.target(ctx, r)
	if err != nil {
		return store.Resource{}, fmt.Errorf("kube: apply %s: %w", r.Ref, err)
	}
	for range WriteRetriesMax {
		cur, err := t.res.Get(ctx, t.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cur = nil
		case err != nil:
			return store.Resource{}, b.wrap("apply", r.Ref, err)
		}
		var have store.Revision
		if cur != nil {
			if have, err = revisionOf(cur); err != nil {
				return store.Resource{}, fmt.Errorf("kube: apply %s: %w", r.Ref, err)
			}
		}
		if exp.Set && have != exp.Revision {
			return store.Resource{}, &store.ConflictError{Ref: r.Ref, Want: exp.Revision, Current: have}
		}
		obj, err := t.build(cur)
		if err != nil {
			return store.Resource{}, fmt.Errorf("kube: apply %s: %w", r.Ref, err)
		}
		var out *unstructured.Unstructured
		if cur == nil {
			out, err = t.res.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
		} else {
			obj.SetResourceVersion(cur.GetResourceVersion())
			out, err = t.res.Update(ctx, obj, metav1.UpdateOptions{FieldManager: FieldManager})
		}
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			if exp.Set {
				return store.Resource{}, b.conflict(ctx, t, r.Ref, exp.Revision)
			}
			continue // another writer won this round: read again
		}
		if err != nil {
			return store.Resource{}, b.wrap("apply", r.Ref, err)
		}
		return t.decode(out)
	}
	return store.Resource{}, fmt.Errorf("kube: apply %s: %w: lost %d rounds to other writers", r.Ref, store.ErrConflict, WriteRetriesMax)
}

// conflict reads what the apiserver holds now, for a ConflictError.
func (b *Backend) conflict(ctx context.Context, t target, ref store.Ref, want store.Revision) error {
	cur, err := t.res.Get(ctx, t.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &store.ConflictError{Ref: ref, Want: want}
	}
	if err != nil {
		return b.wrap("read after a conflict on", ref, err)
	}
	have, err := revisionOf(cur)
	if err != nil {
		return fmt.Errorf("kube: %s: %w", ref, err)
	}
	return &store.ConflictError{Ref: ref, Want: want, Current: have}
}

// Get reads ref. Every read is a quorum read of etcd (resourceVersion
// unset); ReadOptions.Local changes nothing.
func (b *Backend) Get(ctx context.Context, ref store.Ref, _ backend.ReadOptions) (store.Resource, error) {
	if err := ref.Validate(); err != nil {
		return store.Resource{}, fmt.Errorf("kube: get: %w", err)
	}
	t, err := b.refTarget(ref)
	if err != nil {
		return store.Resource{}, fmt.Errorf("kube: get %s: %w", ref, err)
	}
	obj, err := t.res.Get(ctx, t.name, metav1.GetOptions{})
	if err != nil {
		return store.Resource{}, b.wrap("get", ref, err)
	}
	got, err := t.decode(obj)
	if err == nil && got.Ref != ref {
		err = fmt.Errorf("kube: get %s: %w", ref, store.ErrNotFound) // a name-hash collision: not ours
	}
	return got, err
}

// Delete removes ref if exp holds (see backend.Backend), with the
// apiserver's resourceVersion precondition, and returns the object the
// apiserver deleted, whose resourceVersion is the deleting revision.
func (b *Backend) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	if err := ref.Validate(); err != nil {
		return store.Resource{}, fmt.Errorf("kube: delete: %w", err)
	}
	t, err := b.refTarget(ref)
	if err != nil {
		return store.Resource{}, fmt.Errorf("kube: delete %s: %w", ref, err)
	}
	for range WriteRetriesMax {
		cur, err := t.res.Get(ctx, t.name, metav1.GetOptions{})
		if err != nil {
			return store.Resource{}, b.wrap("delete", ref, err)
		}
		last, err := t.decode(cur)
		if err != nil {
			return store.Resource{}, err
		}
		if last.Ref != ref {
			return store.Resource{}, fmt.Errorf("kube: delete %s: %w", ref, store.ErrNotFound)
		}
		if exp.Set && last.ModRevision != exp.Revision {
			return store.Resource{}, &store.ConflictError{Ref: ref, Want: exp.Revision, Current: last.ModRevision}
		}
		rv, uid := cur.GetResourceVersion(), cur.GetUID()
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv, UID: &uid}}
		raw, err := b.rc.Delete().AbsPath(t.path()...).Body(&opts).Do(ctx).Raw()
		if apierrors.IsConflict(err) {
			if exp.Set {
				return store.Resource{}, b.conflict(ctx, t, ref, exp.Revision)
			}
			continue
		}
		if err != nil {
			return store.Resource{}, b.wrap("delete", ref, err)
		}
		rev, err := deletedRevision(raw)
		if errors.Is(err, errStatusAnswer) {
			rev, err = b.deletion(ctx, t, rv)
		}
		if err != nil {
			return store.Resource{}, fmt.Errorf("kube: delete %s: %w", ref, err)
		}
		last.ModRevision = rev
		return last, nil
	}
	return store.Resource{}, fmt.Errorf("kube: delete %s: %w: lost %d rounds to other writers", ref, store.ErrConflict, WriteRetriesMax)
}

// errStatusAnswer: a DELETE answered with a Status, not the object.
var errStatusAnswer = errors.New("kube: the apiserver answered DELETE with a Status")

// deletedRevision reads the resourceVersion of a DELETE's answer: the
// deleted object at the deleting revision (the apiserver's etcd3 store
// decodes it at the delete transaction's revision). Most built-in
// resources answer a Status instead (errStatusAnswer).
func deletedRevision(raw []byte) (store.Revision, error) {
	var obj unstructured.Unstructured
	if err := obj.UnmarshalJSON(raw); err != nil {
		return 0, fmt.Errorf("the apiserver's answer to DELETE: %w", err)
	}
	if obj.GetKind() == "Status" {
		return 0, errStatusAnswer
	}
	return revisionOf(&obj)
}

// deletion finds the revision that deleted t's object, last held at rv:
// the DELETED event of a watch of that one object from rv, which etcd's
// history (or the watch cache) replays. A deletion that has not happened
// within deleteGuard (finalizers, graceful deletion) is ErrUnsupported.
func (b *Backend) deletion(ctx context.Context, t target, rv string) (store.Revision, error) {
	ctx, cancel := context.WithTimeout(ctx, deleteGuard)
	defer cancel()
	kw, err := t.res.Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", t.name).String(),
		ResourceVersion: rv,
	})
	if err != nil {
		return 0, fmt.Errorf("watch for the deletion: %w", b.mapErr(err))
	}
	defer kw.Stop()
	for ev := range kw.ResultChan() {
		switch ev.Type {
		case watch.Deleted:
			if obj, ok := ev.Object.(*unstructured.Unstructured); ok {
				return revisionOf(obj)
			}
		case watch.Error:
			return 0, fmt.Errorf("watch for the deletion: %w", b.mapErr(apierrors.FromObject(ev.Object)))
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return 0, fmt.Errorf("%w: the apiserver began a deletion it did not finish within %s (finalizers or graceful deletion)", store.ErrUnsupported, deleteGuard)
	}
	return 0, fmt.Errorf("watch for the deletion ended: %w", ctx.Err())
}

// List lists kind in namespace (see backend.Backend). Kind "" lists the
// store's own kinds in this scope and the native Options.Kinds, all read
// at the revision of the first list (resourceVersionMatch=Exact), so the
// answer is one consistent state.
func (b *Backend) List(ctx context.Context, kind, namespace string, _ backend.ReadOptions) (backend.List, error) {
	var all []store.Resource
	var rev store.Revision
	for _, s := range b.sources(kind, namespace) {
		items, at, err := b.list(ctx, s, rev)
		if err != nil {
			return backend.List{}, fmt.Errorf("kube: list %q in %q: %w", kind, namespace, err)
		}
		rev = at
		all = append(all, items...)
	}
	slices.SortFunc(all, func(x, y store.Resource) int { return store.Compare(x.Ref, y.Ref) })
	return backend.List{Items: all, Revision: rev}, nil
}

// list reads one source, at revision at (0: the latest, a quorum read).
func (b *Backend) list(ctx context.Context, s source, at store.Revision) ([]store.Resource, store.Revision, error) {
	opts := metav1.ListOptions{LabelSelector: s.selector, Limit: ListPageMax}
	if at != 0 {
		opts.ResourceVersion = strconv.FormatUint(uint64(at), 10)
		opts.ResourceVersionMatch = metav1.ResourceVersionMatchExact
	}
	var out []store.Resource
	for {
		l, err := s.res.List(ctx, opts)
		if err != nil {
			return nil, 0, b.wrapList(err)
		}
		rev, err := parseRevision(l.GetResourceVersion())
		if err != nil {
			return nil, 0, err
		}
		for i := range l.Items {
			r, err := s.decode(&l.Items[i])
			if err != nil {
				return nil, 0, err
			}
			if s.keep(r) {
				out = append(out, r)
			}
		}
		if l.GetContinue() == "" {
			return out, rev, nil
		}
		opts.Continue, opts.ResourceVersion, opts.ResourceVersionMatch = l.GetContinue(), "", ""
	}
}

// Counts lists the every-kind sources (a call to the apiserver, bounded by
// countsTimeout); when that fails it reports the last count it had.
func (b *Backend) Counts() backend.Counts {
	ctx, cancel := context.WithTimeout(context.Background(), countsTimeout)
	defer cancel()
	l, err := b.List(ctx, "", "", backend.ReadOptions{})
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.lastCount = len(l.Items)
	}
	return backend.Counts{Resources: b.lastCount, Subscribers: int(b.subs.Load())}
}

// Snapshot is the every-kind state (as List of "") in the store's snapshot
// encoding, renumbered: the resources in store.Compare order applied to an
// empty store.Store, so revision i+1 and Version 1 for the i-th, and no
// history. The apiserver's revisions are etcd's, shared with every other
// object of the cluster, so they cannot be part of deterministic bytes;
// equal states give equal bytes.
func (b *Backend) Snapshot(ctx context.Context) ([]byte, error) {
	l, err := b.List(ctx, "", "", backend.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: snapshot: %w", err)
	}
	st := store.New()
	for _, r := range l.Items {
		if _, _, err := st.Apply(r, store.Expect{}); err != nil {
			return nil, fmt.Errorf("kube: snapshot: %s: %w", r.Ref, err)
		}
	}
	st.Compact(st.Revision() + 1)
	return st.Snapshot(), nil
}

// Restore checks snap and answers store.ErrUnsupported: the apiserver
// cannot go back to an earlier revision (etcd's revisions only grow), so a
// restore could not give the snapshot's revisions back. A malformed
// snapshot is store.ErrInvalid.
func (b *Backend) Restore(_ context.Context, snap []byte) error {
	if _, err := store.Restore(snap); err != nil {
		return fmt.Errorf("kube: restore: %w", err)
	}
	return fmt.Errorf("kube: restore: %w: an apiserver's revisions (etcd's) cannot be set back", store.ErrUnsupported)
}

// wrap maps an apiserver error to the store's sentinels, keeping the
// apiserver's message.
func (b *Backend) wrap(op string, ref store.Ref, err error) error {
	return fmt.Errorf("kube: %s %s: %w", op, ref, b.mapErr(err))
}

func (b *Backend) wrapList(err error) error { return b.mapErr(err) }

func (b *Backend) mapErr(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case apierrors.IsNotFound(err):
		sentinel = store.ErrNotFound
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		sentinel = store.ErrConflict
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsRequestEntityTooLargeError(err):
		sentinel = store.ErrInvalid
	case apierrors.IsGone(err) || apierrors.IsResourceExpired(err):
		sentinel = store.ErrCompacted
	case apierrors.IsMethodNotSupported(err) || apierrors.IsNotAcceptable(err):
		sentinel = store.ErrUnsupported
	}
	if sentinel == nil {
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			return fmt.Errorf("apiserver %s: %w", b.url, err)
		}
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, b.url, err)
	}
	return fmt.Errorf("%w: apiserver %s: %s", sentinel, b.url, err.Error())
}

// revisionOf parses an object's resourceVersion as an etcd revision.
func revisionOf(obj *unstructured.Unstructured) (store.Revision, error) {
	return parseRevision(obj.GetResourceVersion())
}

// parseRevision reads a resourceVersion. The apiserver calls them opaque;
// with its etcd3 storage (the only one) they are etcd's revisions in
// decimal, global to the cluster and growing with every write, which is
// what the store's revisions are. Anything else is refused.
func parseRevision(rv string) (store.Revision, error) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("kube: resourceVersion %q is not an etcd revision", rv)
	}
	return store.Revision(n), nil
}
