// Package kube is a backend.Backend over a real kube-apiserver, with
// client-go's dynamic client: the original system's "kube-apiserver"
// StoreBackend, which was a stub there.
//
// # Where a resource lives
//
// New reads the apiserver's discovery. A kind the apiserver serves itself
// (Deployment, ConfigMap, a custom resource it serves, ...), with the verbs
// create, get, list, watch, update and delete, is stored as that resource,
// so kubectl sees what revoada stores and the apiserver validates and
// defaults it: only the kubernetes face's manifests may be stored as one
// (any other face's resource of such a kind is store.ErrUnsupported). A
// kind named by several groups is read through the core group's resource
// when it has one, else the first group in discovery's order, at that
// group's preferred version; a write goes to the group and version its
// manifest's apiVersion names, which must be served (else ErrInvalid).
//
// Every other kind (the pureraft face's opaque kinds, the nomad and
// systemd faces', a kubernetes-face kind the apiserver does not serve) is
// kept in the backend's own custom resource, StoreResource
// (store.revoada.dev/v1, cluster-scoped), which New installs if absent:
// one object per store resource, named by a digest of the scope and the
// ref (store names allow what object names do not), labelled with the
// scope and digests of the kind and namespace for the apiserver to select
// on, holding the ref, face, format and payload (base64) in its spec. So
// every store resource round-trips, and two backends of different
// Options.Scope over one apiserver are disjoint stores of these kinds
// (the conformance suite runs that way); native kinds are the cluster's
// and are not scoped.
//
// The apiserver's discovery is read once, at New: a custom resource
// definition applied later (multi-resource-4.yaml's widgets.example.com)
// does not move its kind out of StoreResources until a new Backend.
//
// A native namespaced object in a namespace the apiserver lacks creates
// the namespace first: the store's namespaces exist by being used.
//
// # Revisions
//
// ModRevision is the object's resourceVersion parsed as a decimal number:
// the apiserver calls resourceVersion opaque, but with its etcd3 storage
// (the only one it has) it is the etcd revision of the object's last
// write, global to the cluster and growing with every write of any
// object, which is what the store's revisions are (not contiguous here:
// other objects' writes take revisions too). A resourceVersion that does
// not parse is an error, never a guess.
//
// Version and CreateRevision are not native. The backend writes Version
// itself (an annotation store.revoada.dev/version on native objects,
// spec.version on StoreResources), one more than the object's on each
// write, which also makes an identical apply a real write, as the store
// requires (the apiserver makes an unchanged update a no-op). It counts
// the backend's writes only: kubectl's or a controller's do not change it.
// The create revision cannot be written by the create itself (it is known
// only once written): while Version is 1 it is the object's own
// resourceVersion, provided metadata.managedFields names no field manager
// but the backend's (FieldManager); after another manager's write it is
// unknown, 0. The backend's first update records it
// (store.revoada.dev/create-revision, spec.createRevision) from the object
// it replaces, by the same rule. A watch's Deleted event for an object
// never updated finds it in what the watch saw, or else by an exact read
// of etcd's history at the revision before the delete (0 when that
// history is compacted). An object the backend never wrote (made by
// kubectl) has Version 0 and CreateRevision 0: unknown. In a cluster
// whose controllers write status (a Deployment's, a Pod's), ModRevision
// moves with those writes too: it is the apiserver's resourceVersion,
// whoever wrote.

// # Operations
//
//   - Apply reads the object and creates it, or updates it with its
//     resourceVersion as the precondition: a lost race is retried (at most
//     WriteRetriesMax rounds) without store.Expect, and is a
//     *store.ConflictError naming the current revision with one.
//   - Delete deletes with the resourceVersion and UID preconditions. Its
//     ModRevision is the deleting revision: the apiserver's answer when it
//     is the deleted object (custom resources), else, for the built-in
//     resources that answer a Status, the revision of the DELETED event of
//     a watch of that one object from its last resourceVersion. A deletion
//     the apiserver only begins (finalizers, graceful deletion) and does
//     not finish within deleteGuard is ErrUnsupported.
//   - Reads are quorum reads of etcd (resourceVersion unset);
//     ReadOptions.Local changes nothing. List pages by ListPageMax; List
//     of every kind reads the StoreResources of its scope and each native
//     kind of Options.Kinds at one revision (resourceVersionMatch=Exact).
//   - Watch is one apiserver watch with resourceVersion and
//     allowWatchBookmarks (whose bookmarks advance where a resumed watch
//     starts; the store's own bookmarks count events, as the contract
//     says). From 0 it lists first and watches from the list's revision;
//     from a revision it first reads etcd at that revision exactly, so a
//     compacted one fails Watch itself with store.ErrCompacted (410 Gone),
//     as a 410 during the watch ends it with ErrCompacted. The apiserver
//     ends watches after a timeout; the store watch reopens from the last
//     revision it saw, as often as needed (RewatchMax bounds only watches
//     the apiserver ends at once).
//     Watch of every kind is one watch of the scope's StoreResources when
//     Options.Kinds is empty; with native kinds it is store.ErrUnsupported:
//     merging several watches in revision order needs each one's progress,
//     which the apiserver reports only in bookmarks about once a minute.
//   - Snapshot is the state of every kind, renumbered (see Snapshot);
//     Restore is store.ErrUnsupported (etcd's revisions cannot be set
//     back). Compact compacts etcd through its JSON gateway when
//     Options.Etcd names it, else answers ErrUnsupported (the apiserver
//     has no compaction call; it compacts etcd itself every
//     --etcd-compaction-interval); either way a watch from a compacted
//     revision is ErrCompacted.
//
// Errors map the apiserver's statuses to the store's sentinels, keeping
// its message: 404 is ErrNotFound, 409 (AlreadyExists, Conflict)
// ErrConflict or a *store.ConflictError, 422 and 400 ErrInvalid, 410
// ErrCompacted. An apiserver that cannot be reached is ErrUnreachable,
// naming its URL.
//
// Package kubetest runs a real etcd and kube-apiserver for the tests
// (scripts/build-kube-apiserver.sh builds the apiserver).
package kube
