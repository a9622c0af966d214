package nomad

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// carrierPrefix starts every carrier job's ID.
const carrierPrefix = "revoada."

// The Meta keys of a carrier job.
const (
	metaKind      = "revoada.kind"
	metaNamespace = "revoada.namespace"
	metaName      = "revoada.name"
	metaFace      = "revoada.face"
	metaFormat    = "revoada.format"
	metaPayload   = "revoada.payload" // base64
	metaWrite     = "revoada.write"   // the Nomad version this write makes: every write changes the spec
)

// nomadNamespace is Nomad's namespace rule (structs.validNamespaceName).
var nomadNamespace = regexp.MustCompile("^[a-zA-Z0-9-]{1,128}$")

// location is where a ref lives in Nomad.
type location struct {
	ref       store.Ref
	namespace string // the Nomad namespace
	id        string // the Nomad job ID
	carrier   bool   // an opaque resource in a carrier job
}

// locate maps a ref to its Nomad job. Errors: *store.InvalidError.
func locate(ref store.Ref) (location, error) {
	if err := ref.Validate(); err != nil {
		return location{}, err
	}
	ns := ref.Namespace
	if ref.Kind != face.NomadJobKind {
		if ns == "" {
			ns = "default"
		}
		if !nomadNamespace.MatchString(ns) {
			return location{}, &store.InvalidError{Field: "namespace", Reason: fmt.Sprintf("%q is not a Nomad namespace (1 to 128 letters, digits and '-')", ns)}
		}
		id := fmt.Sprintf("%s%d.%s.%s", carrierPrefix, len(ref.Kind), ref.Kind, ref.Name)
		return location{ref: ref, namespace: ns, id: id, carrier: true}, nil
	}
	switch {
	case ns == "":
		return location{}, &store.InvalidError{Field: "namespace", Reason: "a Nomad job has a namespace (the face says \"default\")"}
	case !nomadNamespace.MatchString(ns):
		return location{}, &store.InvalidError{Field: "namespace", Reason: fmt.Sprintf("%q is not a Nomad namespace (1 to 128 letters, digits and '-')", ns)}
	case strings.HasPrefix(ref.Name, carrierPrefix):
		return location{}, &store.InvalidError{Field: "name", Reason: fmt.Sprintf("%q: the prefix %q is revoada's, for carrier jobs", ref.Name, carrierPrefix)}
	}
	return location{ref: ref, namespace: ns, id: ref.Name}, nil
}

// job is the Nomad job that stores r, given the job there now (nil if none).
func (loc location) job(r store.Resource, cur *api.Job) (*api.Job, error) {
	if loc.carrier {
		return loc.carrierJob(r, cur), nil
	}
	if r.Face != face.Nomad || r.Format != store.JSON {
		return nil, &store.InvalidError{Field: "face", Reason: fmt.Sprintf("a NomadJob is the nomad face's JSON, not %s %s", r.Face, r.Format)}
	}
	var doc struct{ Job *api.Job }
	dec := json.NewDecoder(bytes.NewReader(r.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || doc.Job == nil {
		return nil, &store.InvalidError{Field: "payload", Reason: fmt.Sprintf("not a Nomad API job {\"Job\": {...}}: %v", err)}
	}
	job := doc.Job
	if job.ID == nil { // the face names such a job by its Name
		job.ID = &loc.id
	}
	if *job.ID != loc.id {
		return nil, &store.InvalidError{Field: "payload", Reason: fmt.Sprintf("the job's ID is not the ref's name %q", loc.id)}
	}
	if job.Namespace != nil && *job.Namespace != loc.namespace {
		return nil, &store.InvalidError{Field: "payload", Reason: fmt.Sprintf("the job's namespace %q is not the ref's %q", *job.Namespace, loc.namespace)}
	}
	job.Namespace = &loc.namespace
	return job, nil
}

// carrierJob is a parameterized batch job holding r in its Meta. Nomad
// never schedules it (a parameterized job runs only when dispatched), and
// registering it creates no evaluation.
func (loc location) carrierJob(r store.Resource, cur *api.Job) *api.Job {
	write := uint64(0)
	if cur != nil && cur.Version != nil {
		write = *cur.Version + 1
	}
	str := func(s string) *string { return &s }
	return &api.Job{
		ID: str(loc.id), Name: str(loc.id), Namespace: str(loc.namespace), Type: str("batch"),
		ParameterizedJob: &api.ParameterizedJobConfig{Payload: "forbidden"},
		TaskGroups: []*api.TaskGroup{{
			Name: str("carrier"),
			Tasks: []*api.Task{{
				Name: "carrier", Driver: "raw_exec",
				Config: map[string]any{"command": "/bin/true"},
			}},
		}},
		Meta: map[string]string{
			metaKind: r.Ref.Kind, metaNamespace: r.Ref.Namespace, metaName: r.Ref.Name,
			metaFace: r.Face, metaFormat: r.Format.String(),
			metaPayload: base64.StdEncoding.EncodeToString(r.Payload),
			metaWrite:   strconv.FormatUint(write, 10),
		},
	}
}

// carrier is a carrier job's Meta, decoded.
type carrier struct {
	ref     store.Ref
	face    string
	format  store.Format
	payload []byte
	version int64 // the Nomad version it was written as, + 1
}

// carrierOf decodes a job's Meta; ok is false for a job that is no
// carrier (no revoada.kind).
func carrierOf(meta map[string]string) (carrier, bool) {
	kind, ok := meta[metaKind]
	if !ok {
		return carrier{}, false
	}
	c := carrier{ref: store.Ref{Kind: kind, Namespace: meta[metaNamespace], Name: meta[metaName]}, face: meta[metaFace]}
	c.format, _ = store.ParseFormat(meta[metaFormat])
	c.payload, _ = base64.StdEncoding.DecodeString(meta[metaPayload])
	w, _ := strconv.ParseInt(meta[metaWrite], 10, 64)
	c.version = w + 1
	return c, true
}

// resource is the stored resource a carrier job holds, checked.
func (c carrier) resource(createIndex, jobModifyIndex uint64, id string) (store.Resource, error) {
	r := store.Resource{Ref: c.ref, Face: c.face, Format: c.format, Payload: c.payload,
		CreateRevision: store.Revision(createIndex), ModRevision: store.Revision(jobModifyIndex), Version: c.version}
	loc, err := locate(c.ref)
	if err != nil || loc.id != id || c.format == 0 || c.face == "" {
		return store.Resource{}, fmt.Errorf("nomad: job %q has a damaged revoada carrier Meta", id)
	}
	return r, nil
}

// resourceOf is the resource a job stands for: its carrier's, or the job
// itself as a NomadJob.
func resourceOf(job *api.Job) (store.Resource, error) {
	id, create, mod := deref(job.ID), derefU(job.CreateIndex), derefU(job.JobModifyIndex)
	if c, ok := carrierOf(job.Meta); ok {
		return c.resource(create, mod, id)
	}
	payload, err := jobPayload(job)
	if err != nil {
		return store.Resource{}, fmt.Errorf("nomad: job %q: %w", id, err)
	}
	return store.Resource{
		Ref:  store.Ref{Kind: face.NomadJobKind, Namespace: deref(job.Namespace), Name: id},
		Face: face.Nomad, Format: store.JSON, Payload: payload,
		CreateRevision: store.Revision(create), ModRevision: store.Revision(mod), Version: int64(derefU(job.Version)) + 1,
	}, nil
}

// jobPayload is a job in the Nomad face's stored form, {"Job": {...}},
// without the fields Nomad changes outside a spec write (status, stability,
// the indexes) or that differ from agent to agent (submit time).
func jobPayload(job *api.Job) ([]byte, error) {
	j := *job
	j.Status, j.StatusDescription, j.Stable, j.SubmitTime = nil, nil, nil, nil
	j.CreateIndex, j.ModifyIndex, j.JobModifyIndex = nil, nil, nil
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct{ Job *api.Job }{&j}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefU(u *uint64) uint64 {
	if u == nil {
		return 0
	}
	return *u
}
