package face

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"revoada.dev/revoada/core/store"
)

// nomad is the Nomad face: job specifications in HCL2 or JSON.
type nomad struct{}

var _ Face = nomad{}

// nomadJob is a decoded job: its ID, namespace and the document to store.
type nomadJob struct {
	id, namespace string
	doc           map[string]any
}

// NomadJobKind is the store kind of a Nomad job. Kinds are unique across
// faces, so a Nomad job never overwrites a Kubernetes batch Job of the same
// name; a Pod, on the other hand, is one object whether it came through the
// kubernetes or the baremetal face (the supervisor is another door to it).
const NomadJobKind = "NomadJob"

func (nomad) Name() string { return Nomad }

func (nomad) Formats() []store.Format { return []store.Format{store.JSON} }

func (nomad) Decode(file string, data []byte, f store.Format) ([]store.Resource, error) {
	r, err := decodeJob(file, data, f)
	if err != nil {
		return nil, fmt.Errorf("face: nomad: %s: %w", file, err)
	}
	return []store.Resource{r}, nil
}

func decodeJob(file string, data []byte, f store.Format) (store.Resource, error) {
	if err := checkText(data); err != nil {
		return store.Resource{}, err
	}
	var job nomadJob
	var err error
	switch f {
	case store.HCL:
		job, err = decodeJobHCL(file, data)
	case store.JSON:
		job, err = decodeJobJSON(data)
	default:
		err = errFormat(Nomad, f, []store.Format{store.HCL, store.JSON})
	}
	if err != nil {
		return store.Resource{}, err
	}
	return jobResource(job)
}

// Encode renders a stored job as JSON, the form it was stored in. HCL is
// not rendered: the stored form keeps evaluated values, not the expressions
// that made them.
func (nomad) Encode(r store.Resource, f store.Format) ([]byte, error) {
	if f != store.JSON {
		return nil, fmt.Errorf("face: nomad: %w", errFormat(Nomad, f, nomad{}.Formats()))
	}
	if err := checkOwner(Nomad, r, store.JSON); err != nil {
		return nil, fmt.Errorf("face: nomad: %w", err)
	}
	return bytes.Clone(r.Payload), nil
}

// jobResource checks a job's ID and namespace and makes its resource.
func jobResource(job nomadJob) (store.Resource, error) {
	if job.namespace == "" {
		job.namespace = "default"
	}
	if err := checkNomadNamespace(job.namespace); err != nil {
		return store.Resource{}, err
	}
	ref := store.Ref{Kind: NomadJobKind, Namespace: job.namespace, Name: job.id}
	if err := ref.Validate(); err != nil {
		return store.Resource{}, err
	}
	payload, err := canonicalJSON(job.doc)
	if err != nil {
		return store.Resource{}, invalid("job", "%v", err)
	}
	if err := checkPayload("job", payload); err != nil {
		return store.Resource{}, err
	}
	return store.Resource{Ref: ref, Face: Nomad, Format: store.JSON, Payload: payload}, nil
}

// checkNomadNamespace applies Nomad's namespace rule: 1 to 128 letters,
// digits and '-'.
func checkNomadNamespace(ns string) error {
	ok := len(ns) <= 128
	for i := 0; ok && i < len(ns); i++ {
		ok = isLetter(ns[i]) || isDigit(ns[i]) || ns[i] == '-'
	}
	if !ok {
		return invalid("namespace", "%q is not a Nomad namespace (1 to 128 letters, digits and '-')", ns)
	}
	return nil
}

// decodeJobJSON reads the two JSON forms Nomad reads: the API form
// {"Job": {"ID": ..., ...}}, the stored form, kept as it is, and HCL's JSON
// syntax {"job": {"<id>": {...}}}, converted to the API form as HCL is.
func decodeJobJSON(data []byte) (nomadJob, error) {
	v, err := parseJSON(data, "input")
	if err != nil {
		return nomadJob{}, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nomadJob{}, invalid("input", "a job file is a JSON object, not %s", jsonType(v))
	}
	if job, ok := top["Job"]; ok {
		return decodeAPIJob(top, job)
	}
	if job, ok := top["job"]; ok {
		return hclJSONJob(top, job)
	}
	return nomadJob{}, unsupported("Job", "not a job: no top-level \"Job\" (keys: %s)", strings.Join(sortedKeys(top), ", "))
}

func decodeAPIJob(top map[string]any, v any) (nomadJob, error) {
	if err := onlyKey(top, "Job"); err != nil {
		return nomadJob{}, err
	}
	job, ok := v.(map[string]any)
	if !ok {
		return nomadJob{}, invalid("Job", "must be an object, not %s", jsonType(v))
	}
	o := object{body: job, where: "Job."}
	id, err := optionalString(o, job, "ID", "ID")
	if err == nil && id == "" {
		id, err = requiredString(o, job, "Name", "ID")
	}
	if err != nil {
		return nomadJob{}, err
	}
	ns, err := optionalString(o, job, "Namespace", "Namespace")
	return nomadJob{id: id, namespace: ns, doc: top}, err
}

func hclJSONJob(top map[string]any, v any) (nomadJob, error) {
	if err := onlyKey(top, "job"); err != nil {
		return nomadJob{}, err
	}
	jobs, ok := v.(map[string]any)
	if !ok || len(jobs) != 1 {
		return nomadJob{}, invalid("job", "want exactly one job, {\"job\": {\"<id>\": {...}}}")
	}
	id := sortedKeys(jobs)[0]
	body := jobs[id]
	if list, ok := body.([]any); ok && len(list) == 1 {
		body = list[0]
	}
	m, ok := body.(map[string]any)
	if !ok {
		return nomadJob{}, invalid(fmt.Sprintf("job[%q]", id), "must be an object, not %s", jsonType(body))
	}
	return convertJob(id, m, fmt.Sprintf("job[%q]", id))
}

// convertJob converts an evaluated job block to the API form and reads its
// ID and namespace from it.
func convertJob(id string, body map[string]any, path string) (nomadJob, error) {
	doc, err := apiJob(id, body, path)
	if err != nil {
		return nomadJob{}, err
	}
	job := doc["Job"].(map[string]any)
	ns, _ := job["Namespace"].(string)
	jobID, _ := job["ID"].(string)
	return nomadJob{id: jobID, namespace: ns, doc: doc}, nil
}

func onlyKey(top map[string]any, key string) error {
	for _, k := range sortedKeys(top) {
		if k != key {
			return invalid(k, "unexpected top-level key; a job file holds only %q", key)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
