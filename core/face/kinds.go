package face

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"revoada.dev/revoada/core/store"
)

// KindInfo is one kind of resource and the names a command line may give
// it, as kubectl's discovery describes a resource: its singular, plural and
// short names and the API groups that serve it.
type KindInfo struct {
	Kind     string   // the store kind, exactly: "Deployment", "NomadJob", "service"
	Face     string   // the face whose input makes it; "" for a kind known only from the store
	Singular string   // lower case: "deployment"
	Plural   string   // lower case: "deployments"; "" when the kind has none (systemd unit types)
	Short    []string // kubectl's short names: "deploy"
	Groups   []Group  // the groups that serve it, sorted by name
	// Custom: defined by a CustomResourceDefinition, or known only from
	// the store. A name a built-in kind answers to never resolves to a
	// custom kind (see ResolveKind).
	Custom bool
	// ClusterScoped: its resources have no namespace (the built-in table,
	// or a definition's scope Cluster).
	ClusterScoped bool
}

// Group is one API group serving a kind, with its versions. The core
// Kubernetes group is "". The nomad and systemd faces' kinds belong to the
// groups "nomad" and "systemd", which exist only to qualify a name
// ("service.systemd").
type Group struct {
	Name     string
	Versions []string // sorted
}

// The pseudo groups of the kinds outside Kubernetes.
const (
	NomadGroup   = "nomad"
	SystemdGroup = "systemd"
)

// Kind resolution errors; see ResolveKind.
var (
	ErrUnknownKind   = errors.New("face: unknown kind")
	ErrAmbiguousKind = errors.New("face: ambiguous kind")
)

// SuggestionsMax bounds the "did you mean" names Suggest returns.
const SuggestionsMax = 5

// UnknownKindError says no kind answers to Name, with the known names
// closest to it. It wraps ErrUnknownKind.
type UnknownKindError struct {
	Name        string
	Suggestions []string
}

func (e *UnknownKindError) Error() string {
	msg := fmt.Sprintf("face: unknown kind %q", e.Name)
	if len(e.Suggestions) > 0 {
		msg += "; did you mean " + orList(e.Suggestions) + "?"
	}
	return msg
}

func (e *UnknownKindError) Unwrap() error { return ErrUnknownKind }

// AmbiguousKindError says Name answers to several kinds, the Candidates.
// Each candidate's exact Kind names it alone. It wraps ErrAmbiguousKind.
type AmbiguousKindError struct {
	Name       string
	Candidates []KindInfo
}

func (e *AmbiguousKindError) Error() string {
	var descr, exact []string
	for _, k := range e.Candidates {
		descr = append(descr, k.describe())
		exact = append(exact, k.Kind)
	}
	return fmt.Sprintf("face: ambiguous kind %q: it names %s; give one exactly: %s",
		e.Name, strings.Join(descr, " and "), orList(exact))
}

func (e *AmbiguousKindError) Unwrap() error { return ErrAmbiguousKind }

// describe names a kind with where it comes from: "Service (kubernetes, core
// group)", "service (systemd unit type)".
func (k KindInfo) describe() string {
	switch {
	case k.Face == Systemd:
		return k.Kind + " (systemd unit type)"
	case k.Face == "":
		return k.Kind + " (a custom kind in the store)"
	}
	var groups []string
	for _, g := range k.Groups {
		groups = append(groups, cmp.Or(g.Name, "core"))
	}
	return fmt.Sprintf("%s (%s, group %s)", k.Kind, k.Face, strings.Join(groups, ", "))
}

func orList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// shortNames are kubectl's short names for the built-in kinds, from the
// discovery documents of kube-apiserver 1.3x (kubectl api-resources, the
// SHORTNAMES column; api/discovery in k8s.io/kubernetes).
var shortNames = map[string][]string{
	"ComponentStatus": {"cs"}, "ConfigMap": {"cm"}, "Endpoints": {"ep"}, "Event": {"ev"},
	"LimitRange": {"limits"}, "Namespace": {"ns"}, "Node": {"no"}, "PersistentVolumeClaim": {"pvc"},
	"PersistentVolume": {"pv"}, "Pod": {"po"}, "ReplicationController": {"rc"}, "ResourceQuota": {"quota"},
	"ServiceAccount": {"sa"}, "Service": {"svc"},
	"DaemonSet": {"ds"}, "Deployment": {"deploy"}, "ReplicaSet": {"rs"}, "StatefulSet": {"sts"},
	"HorizontalPodAutoscaler": {"hpa"}, "CronJob": {"cj"}, "CertificateSigningRequest": {"csr"},
	"Ingress": {"ing"}, "NetworkPolicy": {"netpol"}, "IPAddress": {"ip"}, "PodDisruptionBudget": {"pdb"},
	"PriorityClass": {"pc"}, "StorageClass": {"sc"}, "VolumeAttributesClass": {"vac"},
	"CustomResourceDefinition": {"crd", "crds"},
}

// Kinds returns every kind a name can resolve to, sorted by Kind: the
// Kubernetes kinds kube-apiserver serves (BuiltinKinds, plurals as
// k8s.io/apimachinery's meta.UnsafeGuessKindToResource makes them, kubectl's
// short names), NomadJobKind, the systemd unit types (by their type name
// alone, as systemctl --type spells them: no plurals), the kinds defined by
// the well-formed CustomResourceDefinitions in crds (see crdKind; a
// malformed one defines nothing), and the kinds of stored that are none of
// these (custom resources without a definition: singular and guessed
// plural). The last two are Custom.
func Kinds(stored []string, crds []store.Resource) []KindInfo {
	out := builtinKindInfos()
	builtin := out[:len(out):len(out)]
	for _, crd := range crds {
		if info, ok := crdKind(crd, builtin); ok {
			out = append(out, info)
		}
	}
	for _, k := range stored {
		if !slices.ContainsFunc(out, func(i KindInfo) bool { return i.Kind == k }) {
			info := guessed(k)
			info.Custom = true
			out = append(out, *info)
		}
	}
	slices.SortStableFunc(out, func(a, b KindInfo) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}

// builtinKindInfos are the kinds of the faces: Kubernetes', NomadJob and
// the systemd unit types.
func builtinKindInfos() []KindInfo {
	byKind := map[string]*KindInfo{}
	for gv, kinds := range BuiltinKinds() {
		group, version := splitAPIVersion(gv)
		for _, k := range kinds {
			info := byKind[k]
			if info == nil {
				info = guessed(k)
				info.Face, info.Short, info.ClusterScoped = Kubernetes, shortNames[k], ClusterScoped(k)
				byKind[k] = info
			}
			info.Groups = addVersion(info.Groups, group, version)
		}
	}
	out := make([]KindInfo, 0, len(byKind)+len(unitTypes)+1)
	for _, info := range byKind {
		out = append(out, *info)
	}
	nomadJob := guessed(NomadJobKind)
	nomadJob.Face, nomadJob.Groups = Nomad, []Group{{Name: NomadGroup}}
	out = append(out, *nomadJob)
	for _, t := range unitTypes {
		out = append(out, KindInfo{Kind: t, Face: Systemd, Singular: t, Groups: []Group{{Name: SystemdGroup}}})
	}
	return out
}

// guessed is a kind with kubectl's singular and guessed plural.
func guessed(kind string) *KindInfo {
	plural, singular := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Kind: kind})
	return &KindInfo{Kind: kind, Singular: singular.Resource, Plural: plural.Resource}
}

// splitAPIVersion cuts "apps/v1" into group and version; "v1" is the core group.
func splitAPIVersion(gv string) (group, version string) {
	if g, v, ok := strings.Cut(gv, "/"); ok {
		return g, v
	}
	return "", gv
}

// addVersion adds group/version to groups, keeping both sorted.
func addVersion(groups []Group, group, version string) []Group {
	i, found := slices.BinarySearchFunc(groups, group, func(g Group, name string) int { return strings.Compare(g.Name, name) })
	if !found {
		groups = slices.Insert(groups, i, Group{Name: group})
	}
	if j, ok := slices.BinarySearch(groups[i].Versions, version); !ok {
		groups[i].Versions = slices.Insert(groups[i].Versions, j, version)
	}
	return groups
}

// crdSpec is what crdKind reads of a CustomResourceDefinition.
type crdSpec struct {
	Spec struct {
		Group string
		Names struct {
			Kind, Plural, Singular string
			ShortNames             []string
		}
		Scope    string
		Versions []struct{ Name string }
	}
}

// crdKind reads the kind a CustomResourceDefinition defines, as a custom
// kind. A malformed definition defines none (ok false), so that it takes
// no part in resolving names: one kube-apiserver would refuse (a group
// that is not a DNS subdomain with a dot, an empty kind or plural, names
// or versions that are not DNS labels, no version, a scope other than
// Namespaced or Cluster, an object name other than PLURAL.GROUP), and one
// whose kind is a name of a built-in kind, in any spelling (a custom
// resource may not use it: checkOwnKind). Short names that a built-in kind
// answers to are dropped: they could never resolve to it.
func crdKind(r store.Resource, builtin []KindInfo) (KindInfo, bool) {
	var crd crdSpec
	if r.Ref.Kind != "CustomResourceDefinition" || r.Format != store.JSON || json.Unmarshal(r.Payload, &crd) != nil {
		return KindInfo{}, false
	}
	spec, n := crd.Spec, crd.Spec.Names
	if !wellFormedCRD(r.Ref.Name, crd) || len(KindsNamed(n.Kind, builtin)) > 0 {
		return KindInfo{}, false
	}
	info := KindInfo{Kind: n.Kind, Face: Kubernetes, Singular: cmp.Or(n.Singular, strings.ToLower(n.Kind)), Plural: n.Plural, Custom: true,
		ClusterScoped: spec.Scope == "Cluster"}
	for _, s := range n.ShortNames {
		if len(KindsNamed(s, builtin)) == 0 {
			info.Short = append(info.Short, s)
		}
	}
	for _, v := range spec.Versions {
		info.Groups = addVersion(info.Groups, spec.Group, v.Name)
	}
	return info, true
}

// wellFormedCRD reports whether a definition named name has what
// kube-apiserver requires of the fields crdKind reads.
func wellFormedCRD(name string, crd crdSpec) bool {
	spec, n := crd.Spec, crd.Spec.Names
	labels := append([]string{n.Plural}, n.ShortNames...)
	if n.Singular != "" {
		labels = append(labels, n.Singular)
	}
	for _, v := range spec.Versions {
		labels = append(labels, v.Name)
	}
	switch {
	case n.Kind == "" || len(spec.Versions) == 0 || !strings.Contains(spec.Group, "."),
		spec.Scope != "Namespaced" && spec.Scope != "Cluster",
		name != n.Plural+"."+spec.Group,
		checkDNSSubdomain(spec.Group) != nil:
		return false
	}
	for _, l := range labels {
		if checkDNSLabel(l, 63) != nil {
			return false
		}
	}
	return true
}

// names are the lower-case names k answers to on its own.
func (k KindInfo) names() []string {
	out := append([]string{strings.ToLower(k.Kind), k.Singular}, k.Short...)
	if k.Plural != "" {
		out = append(out, k.Plural)
	}
	return out
}

// answersTo reports whether k answers to the lower-case name: one of its
// names, or NAME.GROUP or NAME.VERSION.GROUP for one of its groups
// (kubectl's resource.group and resource.version.group).
func (k KindInfo) answersTo(name string) bool {
	if slices.Contains(k.names(), name) {
		return true
	}
	for _, g := range k.Groups {
		if g.Name == "" {
			continue
		}
		rest, ok := strings.CutSuffix(name, "."+strings.ToLower(g.Name))
		if !ok {
			continue
		}
		if slices.Contains(k.names(), rest) {
			return true
		}
		if n, v, ok := cutLast(rest, "."); ok && slices.Contains(g.Versions, v) && slices.Contains(k.names(), n) {
			return true
		}
	}
	return false
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// KindsNamed returns the kinds (one entry per store kind) that answer to
// name, ignoring case, in Kind order.
func KindsNamed(name string, kinds []KindInfo) []KindInfo {
	lower := strings.ToLower(name)
	var out []KindInfo
	for _, k := range kinds {
		if k.answersTo(lower) && !slices.ContainsFunc(out, func(o KindInfo) bool { return o.Kind == k.Kind }) {
			out = append(out, k)
		}
	}
	return out
}

// ResolveKind finds the one kind name means, as kubectl resolves a resource
// argument: case does not matter, and a kind answers to its name, singular,
// plural, short names, and any of those qualified by a group
// ("deployments.apps", "deployments.v1.apps", "jobs.batch",
// "service.systemd"). A name a built-in kind answers to never means a
// custom kind, whatever a CustomResourceDefinition claims (kubectl resolves
// the built-in groups first): "po" is the Pod even when a CRD gives it as a
// short name. Among the rest, a name spelled exactly as a kind is that
// kind, even when it also names others ignoring case: "Service" is the
// Kubernetes Service and "service" the systemd unit type. kinds is what
// Kinds returns.
//
// Errors: *AmbiguousKindError (ErrAmbiguousKind) when the name answers to
// several kinds and is none of them exactly; *UnknownKindError
// (ErrUnknownKind) when it answers to none, with suggestions.
func ResolveKind(name string, kinds []KindInfo) (KindInfo, error) {
	candidates := KindsNamed(name, kinds)
	if slices.ContainsFunc(candidates, func(k KindInfo) bool { return !k.Custom }) {
		candidates = slices.DeleteFunc(candidates, func(k KindInfo) bool { return k.Custom })
	}
	if i := slices.IndexFunc(candidates, func(k KindInfo) bool { return k.Kind == name }); i >= 0 {
		return candidates[i], nil
	}
	switch len(candidates) {
	case 0:
		return KindInfo{}, &UnknownKindError{Name: name, Suggestions: Suggest(name, suggestionPool(name, kinds))}
	case 1:
		return candidates[0], nil
	}
	return KindInfo{}, &AmbiguousKindError{Name: name, Candidates: candidates}
}

// suggestionPool is what an unknown kind name is compared with: each kind's
// Kind, plural and short names, and for a qualified name plural.group.
func suggestionPool(name string, kinds []KindInfo) []string {
	var pool []string
	for _, k := range kinds {
		pool = append(pool, k.Kind)
		pool = append(pool, k.Short...)
		if k.Plural != "" {
			pool = append(pool, k.Plural)
		}
		if !strings.Contains(name, ".") {
			continue
		}
		for _, g := range k.Groups {
			if g.Name != "" {
				pool = append(pool, cmp.Or(k.Plural, k.Singular)+"."+g.Name)
			}
		}
	}
	return pool
}

// Suggest returns the words of pool closest to word by edit distance
// (optimal string alignment: insertions, deletions, substitutions and
// transpositions of adjacent letters, ignoring case), nearest first, ties in
// pool order, at most SuggestionsMax, without duplicates. A word up to four
// letters long matches within one edit, a longer one within two; a word
// equal to word (ignoring case) is not a suggestion.
func Suggest(word string, pool []string) []string {
	lw := strings.ToLower(word)
	maxDist := 2
	if len(lw) <= 4 {
		maxDist = 1
	}
	type near struct {
		word string
		dist int
	}
	var found []near
	for _, p := range pool {
		d := editDistance(lw, strings.ToLower(p))
		if d == 0 || d > maxDist || slices.ContainsFunc(found, func(n near) bool { return n.word == p }) {
			continue
		}
		found = append(found, near{p, d})
	}
	slices.SortStableFunc(found, func(a, b near) int { return cmp.Compare(a.dist, b.dist) })
	var out []string
	for _, n := range found[:min(len(found), SuggestionsMax)] {
		out = append(out, n.word)
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b,
// over bytes.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
