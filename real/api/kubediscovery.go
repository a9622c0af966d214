package api

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"revoada.dev/revoada/core/face"
)

// kubeVerbs are what the front door serves of every kind.
var kubeVerbs = metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}

// kubeGroupVersions lists every group the kinds are served in, with its
// versions, most preferred first (Kubernetes' order: GA, beta, alpha).
func kubeGroupVersions(kinds []face.KindInfo) map[string][]string {
	out := map[string][]string{}
	for _, k := range kinds {
		for _, g := range k.Groups {
			for _, v := range g.Versions {
				if !slices.Contains(out[g.Name], v) {
					out[g.Name] = append(out[g.Name], v)
				}
			}
		}
	}
	for g := range out {
		slices.SortFunc(out[g], func(a, b string) int { return -version.CompareKubeAwareVersionStrings(a, b) })
	}
	return out
}

func (s *Server) kubeAPIVersions(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
	})
	return nil
}

func kubeAPIGroup(name string, versions []string) metav1.APIGroup {
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: name}
	for _, v := range versions {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

func (s *Server) kubeGroups(w http.ResponseWriter, r *http.Request) error {
	kinds, err := s.kubeKinds(r.Context())
	if err != nil {
		return err
	}
	gvs := kubeGroupVersions(kinds)
	list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, name := range slices.Sorted(maps.Keys(gvs)) {
		if name != "" {
			list.Groups = append(list.Groups, kubeAPIGroup(name, gvs[name]))
		}
	}
	s.writeJSON(w, r, http.StatusOK, list)
	return nil
}

func (s *Server) kubeGroup(w http.ResponseWriter, r *http.Request, name string) error {
	kinds, err := s.kubeKinds(r.Context())
	if err != nil {
		return err
	}
	versions, ok := kubeGroupVersions(kinds)[name]
	if !ok || name == "" {
		return apierrors.NewNotFound(schema.GroupResource{}, name)
	}
	s.writeJSON(w, r, http.StatusOK, kubeAPIGroup(name, versions))
	return nil
}

// kubeServed lists the kinds served at group/version, by plural.
func kubeServed(kinds []face.KindInfo, group, version string) []face.KindInfo {
	var out []face.KindInfo
	for _, k := range kinds {
		if kubeServesAt(k, group, version) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b face.KindInfo) int { return cmp.Compare(a.Plural, b.Plural) })
	return out
}

func (s *Server) kubeResourceList(w http.ResponseWriter, r *http.Request, kinds []face.KindInfo, group, version string) error {
	served := kubeServed(kinds, group, version)
	if len(served) == 0 {
		return apierrors.NewNotFound(schema.GroupResource{Group: group}, version)
	}
	list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: schema.GroupVersion{Group: group, Version: version}.String()}
	for _, k := range served {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: k.Plural, SingularName: k.Singular, Namespaced: !k.ClusterScoped, Kind: k.Kind,
			Verbs: kubeVerbs, ShortNames: k.Short,
		})
	}
	s.writeJSON(w, r, http.StatusOK, list)
	return nil
}

// The OpenAPI v3 documents: a root naming one document per group version,
// and in each a path per kind whose PATCH names the kind
// (x-kubernetes-group-version-kind), the fieldValidation parameter and the
// patch types served. That is what kubectl reads of them: whether the
// server validates fields itself (it does: the face refuses unknown
// fields), and whether it takes a strategic merge patch computed from the
// document's schemas — it is not offered here, as the documents carry no
// schemas, so kubectl computes one from its own built-in types, and a JSON
// merge patch for a custom kind.

// kubeGVPath is a group version's path in the root ("api/v1", "apis/apps/v1").
func kubeGVPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

func (s *Server) kubeOpenAPIRoot(w http.ResponseWriter, r *http.Request) error {
	kinds, err := s.kubeKinds(r.Context())
	if err != nil {
		return err
	}
	paths := map[string]map[string]string{}
	for g, versions := range kubeGroupVersions(kinds) {
		for _, v := range versions {
			p := kubeGVPath(g, v)
			doc, _ := json.Marshal(kubeOpenAPIDoc(kinds, g, v))
			sum := sha256.Sum256(doc)
			paths[p] = map[string]string{"serverRelativeURL": "/openapi/v3/" + p + "?hash=" + strings.ToUpper(hex.EncodeToString(sum[:]))}
		}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"paths": paths})
	return nil
}

func (s *Server) kubeOpenAPI(w http.ResponseWriter, r *http.Request) error {
	kinds, err := s.kubeKinds(r.Context())
	if err != nil {
		return err
	}
	parts := strings.Split(r.PathValue("path"), "/")
	var group, version string
	switch {
	case len(parts) == 2 && parts[0] == "api":
		version = parts[1]
	case len(parts) == 3 && parts[0] == "apis":
		group, version = parts[1], parts[2]
	default:
		return apierrors.NewNotFound(schema.GroupResource{Resource: "openapi"}, r.PathValue("path"))
	}
	if len(kubeServed(kinds, group, version)) == 0 {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "openapi"}, r.PathValue("path"))
	}
	s.writeJSON(w, r, http.StatusOK, kubeOpenAPIDoc(kinds, group, version))
	return nil
}

func kubeOpenAPIDoc(kinds []face.KindInfo, group, version string) map[string]any {
	paths := map[string]any{}
	for _, k := range kubeServed(kinds, group, version) {
		gvk := map[string]string{"group": group, "version": version, "kind": k.Kind}
		prefix := "/" + kubeGVPath(group, version) + "/"
		if !k.ClusterScoped {
			prefix += "namespaces/{namespace}/"
		}
		params := []map[string]any{
			{"name": "fieldValidation", "in": "query", "schema": map[string]string{"type": "string"}},
			{"name": "fieldManager", "in": "query", "schema": map[string]string{"type": "string"}},
			{"name": "force", "in": "query", "schema": map[string]string{"type": "boolean"}},
		}
		content := map[string]any{}
		for _, pt := range []string{jsonPatch, mergePatch, applyPatch} {
			content[pt] = map[string]any{"schema": map[string]string{"type": "object"}}
		}
		paths[prefix+k.Plural+"/{name}"] = map[string]any{
			"patch": map[string]any{
				"operationId": "patch" + k.Kind, "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
				"parameters": params, "requestBody": map[string]any{"content": content},
				"responses": map[string]any{"200": map[string]string{"description": "OK"}},
			},
		}
		paths[prefix+k.Plural] = map[string]any{
			"post": map[string]any{
				"operationId": "create" + k.Kind, "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk,
				"parameters": params[:2], "responses": map[string]any{"201": map[string]string{"description": "Created"}},
			},
		}
	}
	return map[string]any{
		"openapi": "3.0.0",
		"info":    map[string]string{"title": "revoada", "version": kubeVersion},
		"paths":   paths,
		"components": map[string]any{
			"schemas": map[string]any{},
		},
	}
}
