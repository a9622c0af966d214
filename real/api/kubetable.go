package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"revoada.dev/revoada/core/store"
)

// Tables: kubectl get asks for a list or an object as a meta.k8s.io Table
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io) and prints the
// server's columns. Revoada stores what was applied and runs no
// controllers or kubelets, so columns that kube-apiserver fills from an
// object's status show what its status holds (nothing, until something
// writes it): READY 0/3 for a Deployment nobody runs.

// kubeTableAsked says which Table version the client accepts first
// ("v1" or "v1beta1"), or "" for plain objects.
func kubeTableAsked(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		params := map[string]string{}
		for _, p := range strings.Split(part, ";")[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			params[k] = v
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
			return params["v"]
		}
		if mt := strings.TrimSpace(strings.Split(part, ";")[0]); params["as"] == "" && (mt == "application/json" || mt == "*/*") {
			return ""
		}
	}
	return ""
}

// kubeColumn is a Table column: its definition, and its cell of an object.
type kubeColumn struct {
	def  metav1.TableColumnDefinition
	cell func(obj map[string]any) any
}

func col(name, typ string, priority int32, cell func(map[string]any) any) kubeColumn {
	return kubeColumn{def: metav1.TableColumnDefinition{Name: name, Type: typ, Priority: priority}, cell: cell}
}

// at reads a value from nested objects.
func at(obj map[string]any, path ...string) any {
	var v any = obj
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func atString(obj map[string]any, path ...string) string {
	s, _ := at(obj, path...).(string)
	return s
}

func atInt(obj map[string]any, def int64, path ...string) int64 {
	if f, ok := at(obj, path...).(float64); ok {
		return int64(f)
	}
	return def
}

func atLen(obj map[string]any, path ...string) int {
	switch v := at(obj, path...).(type) {
	case map[string]any:
		return len(v)
	case []any:
		return len(v)
	}
	return 0
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// age is the AGE cell: how long ago the object was created, as kubectl
// prints it.
func age(obj map[string]any) any {
	ts, err := time.Parse(time.RFC3339, atString(obj, "metadata", "creationTimestamp"))
	if err != nil {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts))
}

func name(obj map[string]any) any { return atString(obj, "metadata", "name") }

// replicasReady is READY of a workload: ready replicas of those wanted.
func replicasReady(obj map[string]any) any {
	return fmt.Sprintf("%d/%d", atInt(obj, 0, "status", "readyReplicas"), atInt(obj, 1, "spec", "replicas"))
}

// kubeColumns are a kind's columns: kube-apiserver's for the kinds a user
// meets most, NAME and AGE for the others.
func kubeColumns(kind string) []kubeColumn {
	nameCol := col("Name", "string", 0, name)
	ageCol := col("Age", "string", 0, age)
	switch kind {
	case "Pod":
		return []kubeColumn{nameCol,
			col("Ready", "string", 0, func(o map[string]any) any {
				ready := 0
				statuses, _ := at(o, "status", "containerStatuses").([]any)
				for _, s := range statuses {
					if r, _ := at(s.(map[string]any), "ready").(bool); r {
						ready++
					}
				}
				return fmt.Sprintf("%d/%d", ready, atLen(o, "spec", "containers"))
			}),
			col("Status", "string", 0, func(o map[string]any) any { return cmpName(atString(o, "status", "phase"), "Pending") }),
			col("Restarts", "string", 0, func(o map[string]any) any {
				n := int64(0)
				statuses, _ := at(o, "status", "containerStatuses").([]any)
				for _, s := range statuses {
					n += atInt(s.(map[string]any), 0, "restartCount")
				}
				return strconv.FormatInt(n, 10)
			}),
			ageCol,
			col("Node", "string", 1, func(o map[string]any) any { return orNone(atString(o, "spec", "nodeName")) }),
		}
	case "Deployment", "StatefulSet", "ReplicaSet":
		cols := []kubeColumn{nameCol, col("Ready", "string", 0, replicasReady)}
		if kind == "Deployment" {
			cols = append(cols,
				col("Up-to-date", "integer", 0, func(o map[string]any) any { return atInt(o, 0, "status", "updatedReplicas") }),
				col("Available", "integer", 0, func(o map[string]any) any { return atInt(o, 0, "status", "availableReplicas") }))
		}
		return append(cols, ageCol, col("Containers", "string", 1, containerNames), col("Images", "string", 1, images))
	case "DaemonSet":
		return []kubeColumn{nameCol,
			col("Desired", "integer", 0, func(o map[string]any) any { return atInt(o, 0, "status", "desiredNumberScheduled") }),
			col("Ready", "integer", 0, func(o map[string]any) any { return atInt(o, 0, "status", "numberReady") }),
			ageCol}
	case "Service":
		return []kubeColumn{nameCol,
			col("Type", "string", 0, func(o map[string]any) any { return cmpName(atString(o, "spec", "type"), "ClusterIP") }),
			col("Cluster-IP", "string", 0, func(o map[string]any) any { return orNone(atString(o, "spec", "clusterIP")) }),
			col("Port(s)", "string", 0, func(o map[string]any) any {
				var ports []string
				list, _ := at(o, "spec", "ports").([]any)
				for _, p := range list {
					m, _ := p.(map[string]any)
					ports = append(ports, fmt.Sprintf("%d/%s", atInt(m, 0, "port"), cmpName(atString(m, "protocol"), "TCP")))
				}
				return orNone(strings.Join(ports, ","))
			}),
			ageCol}
	case "ConfigMap":
		return []kubeColumn{nameCol, col("Data", "integer", 0, func(o map[string]any) any { return atLen(o, "data") + atLen(o, "binaryData") }), ageCol}
	case "Secret":
		return []kubeColumn{nameCol,
			col("Type", "string", 0, func(o map[string]any) any { return cmpName(atString(o, "type"), "Opaque") }),
			col("Data", "integer", 0, func(o map[string]any) any { return atLen(o, "data") + atLen(o, "stringData") }),
			ageCol}
	case "Namespace":
		return []kubeColumn{nameCol, col("Status", "string", 0, func(o map[string]any) any { return cmpName(atString(o, "status", "phase"), "Active") }), ageCol}
	case "Job":
		return []kubeColumn{nameCol,
			col("Completions", "string", 0, func(o map[string]any) any {
				return fmt.Sprintf("%d/%d", atInt(o, 0, "status", "succeeded"), atInt(o, 1, "spec", "completions"))
			}),
			ageCol}
	case "CronJob":
		return []kubeColumn{nameCol,
			col("Schedule", "string", 0, func(o map[string]any) any { return atString(o, "spec", "schedule") }),
			col("Suspend", "boolean", 0, func(o map[string]any) any { b, _ := at(o, "spec", "suspend").(bool); return b }),
			ageCol}
	}
	return []kubeColumn{nameCol, ageCol}
}

// podSpecContainers are a workload's template's containers.
func podSpecContainers(o map[string]any) []map[string]any {
	list, _ := at(o, "spec", "template", "spec", "containers").([]any)
	var out []map[string]any
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func containerNames(o map[string]any) any {
	var names []string
	for _, c := range podSpecContainers(o) {
		names = append(names, atString(c, "name"))
	}
	return strings.Join(names, ",")
}

func images(o map[string]any) any {
	var out []string
	for _, c := range podSpecContainers(o) {
		out = append(out, atString(c, "image"))
	}
	return strings.Join(out, ",")
}

// kubeWriteTable writes objects (their JSON) as one Table.
func (s *Server) kubeWriteTable(w http.ResponseWriter, r *http.Request, t kubeTarget, rev store.Revision, objects [][]byte, version string) error {
	table, err := kubeTable(t, rev, objects, version, r.URL.Query().Get("includeObject"), true)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, table)
	return nil
}

// kubeTable makes a Table of objects. Each row carries its object's
// metadata (includeObject=Metadata, the default), the whole object
// (Object), or nothing (None); kubectl reads the namespace and labels
// from it.
func kubeTable(t kubeTarget, rev store.Revision, objects [][]byte, version, include string, withColumns bool) (*metav1.Table, error) {
	cols := kubeColumns(t.info.Kind)
	table := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + version},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatUint(uint64(rev), 10)}, Rows: []metav1.TableRow{}}
	if withColumns {
		for _, c := range cols {
			table.ColumnDefinitions = append(table.ColumnDefinitions, c.def)
		}
	}
	for _, raw := range objects {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("api: a stored object does not parse: %w", err)
		}
		row := metav1.TableRow{}
		for _, c := range cols {
			row.Cells = append(row.Cells, c.cell(obj))
		}
		switch include {
		case "None":
		case "Object":
			row.Object = runtime.RawExtension{Raw: raw}
		case "", "Metadata":
			meta, _ := json.Marshal(map[string]any{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/" + version, "metadata": obj["metadata"]})
			row.Object = runtime.RawExtension{Raw: meta}
		default:
			return nil, kubeBadRequest("includeObject=%q: want None, Metadata or Object", include)
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}
