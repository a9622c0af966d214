package face

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"revoada.dev/revoada/core/store"
)

// bareMetal is the supervisor face: Kubernetes Pods, run on the host by
// systemd and podman.
type bareMetal struct{}

var _ Face = bareMetal{}

func (bareMetal) Name() string { return BareMetal }

func (bareMetal) Formats() []store.Format { return []store.Format{store.YAML, store.JSON, store.Unit} }

// Decode reads Pods as the Kubernetes face does, refuses every other kind,
// and refuses a Pod it could not render as a unit.
func (bareMetal) Decode(file string, data []byte, f store.Format) ([]store.Resource, error) {
	objs, err := decodeObjects(data, f)
	if err != nil {
		return nil, fmt.Errorf("face: baremetal: %s: %w", file, err)
	}
	out := make([]store.Resource, 0, len(objs))
	for _, o := range objs {
		r, err := podResource(o)
		if err != nil {
			return nil, fmt.Errorf("face: baremetal: %s: %w", file, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func podResource(o object) (store.Resource, error) {
	if kind, _ := o.body["kind"].(string); kind != "Pod" {
		return store.Resource{}, unsupported(o.where+"kind", "%q: the baremetal face runs Pods only", kind)
	}
	if v, _ := o.body["apiVersion"].(string); v != "v1" {
		return store.Resource{}, invalid(o.where+"apiVersion", "%q: a Pod is v1", v)
	}
	r, err := objectResource(o)
	if err != nil {
		return store.Resource{}, err
	}
	r.Face = BareMetal
	p, err := parsePod(o.where, r.Payload)
	if err != nil {
		return store.Resource{}, err
	}
	return r, p.check(o.where)
}

// Encode renders the Pod back as YAML or JSON (with resourceVersion), or as
// the systemd unit that runs it (see the package doc).
func (bareMetal) Encode(r store.Resource, f store.Format) ([]byte, error) {
	if f != store.Unit {
		return encodeObject(BareMetal, r, f)
	}
	if err := checkOwner(BareMetal, r, store.JSON); err != nil {
		return nil, fmt.Errorf("face: baremetal: %w", err)
	}
	p, err := parsePod("", r.Payload)
	if err == nil {
		err = p.check("")
	}
	if err != nil {
		return nil, fmt.Errorf("face: baremetal: %s: %w", r.Ref, err)
	}
	return p.unit(), nil
}

// pod is the part of a Pod the unit renders.
type pod struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		RestartPolicy  string      `json:"restartPolicy"`
		HostNetwork    bool        `json:"hostNetwork"`
		InitContainers []container `json:"initContainers"`
		Containers     []container `json:"containers"`
	} `json:"spec"`
}

type container struct {
	Name         string            `json:"name"`
	Image        string            `json:"image"`
	Command      []string          `json:"command"`
	Args         []string          `json:"args"`
	WorkingDir   string            `json:"workingDir"`
	Env          []envVar          `json:"env"`
	Ports        []containerPort   `json:"ports"`
	EnvFrom      []json.RawMessage `json:"envFrom"`
	VolumeMounts []json.RawMessage `json:"volumeMounts"`
}

type envVar struct {
	Name      string          `json:"name"`
	Value     string          `json:"value"`
	ValueFrom json.RawMessage `json:"valueFrom"`
}

type containerPort struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	HostIP        string `json:"hostIP"`
	Protocol      string `json:"protocol"`
}

func parsePod(where string, payload []byte) (pod, error) {
	var p pod
	if err := json.Unmarshal(payload, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return pod{}, invalid(where+te.Field, "must be %s, not a JSON %s", te.Type, te.Value)
		}
		return pod{}, invalid("payload", "%v", err)
	}
	return p, nil
}

// check refuses what the unit cannot express: no containers, a container
// without a name or image, and the features it would silently drop
// (volumes, envFrom, env valueFrom).
func (p pod) check(where string) error {
	switch p.Spec.RestartPolicy {
	case "", "Always", "OnFailure", "Never":
	default:
		return invalid(where+"spec.restartPolicy", "%q: want Always, OnFailure or Never", p.Spec.RestartPolicy)
	}
	if len(p.Spec.Containers) == 0 {
		return invalid(where+"spec.containers", "a Pod runs at least one container")
	}
	seen := map[string]bool{}
	for i, c := range p.Spec.InitContainers {
		if err := c.check(fmt.Sprintf("%sspec.initContainers[%d]", where, i), seen); err != nil {
			return err
		}
	}
	for i, c := range p.Spec.Containers {
		if err := c.check(fmt.Sprintf("%sspec.containers[%d]", where, i), seen); err != nil {
			return err
		}
	}
	return nil
}

func (c container) check(field string, seen map[string]bool) error {
	if err := checkDNSLabel(c.Name, 63); err != nil {
		return invalid(field+".name", "%v", err)
	}
	if seen[c.Name] {
		return invalid(field+".name", "%q is used twice", c.Name)
	}
	seen[c.Name] = true
	for _, s := range append(append([]string{c.Image, c.WorkingDir}, c.Command...), c.Args...) {
		if strings.IndexByte(s, 0) >= 0 {
			return invalid(field, "NUL in an image, directory, command or argument; a process argument cannot hold one")
		}
	}
	switch {
	case c.Image == "":
		return invalid(field+".image", "required")
	case len(c.EnvFrom) > 0:
		return unsupported(field+".envFrom", "not rendered by the baremetal face")
	case len(c.VolumeMounts) > 0:
		return unsupported(field+".volumeMounts", "volumes are not rendered by the baremetal face")
	}
	for i, e := range c.Env {
		if len(e.ValueFrom) > 0 && !bytes.Equal(e.ValueFrom, []byte("null")) {
			return unsupported(fmt.Sprintf("%s.env[%d].valueFrom", field, i), "only literal values are rendered")
		}
		if strings.IndexByte(e.Name+e.Value, 0) >= 0 || strings.IndexByte(e.Name, '=') >= 0 {
			return invalid(fmt.Sprintf("%s.env[%d]", field, i), "a NUL, or '=' in the name")
		}
		if e.Name == "" {
			return invalid(fmt.Sprintf("%s.env[%d].name", field, i), "required")
		}
	}
	for i, port := range c.Ports {
		if err := port.check(fmt.Sprintf("%s.ports[%d]", field, i)); err != nil {
			return err
		}
	}
	return nil
}

func (p containerPort) check(field string) error {
	switch {
	case p.ContainerPort < 1 || p.ContainerPort > 65535:
		return invalid(field+".containerPort", "%d is not a port", p.ContainerPort)
	case p.HostPort < 0 || p.HostPort > 65535:
		return invalid(field+".hostPort", "%d is not a port", p.HostPort)
	}
	switch p.Protocol {
	case "", "TCP", "UDP", "SCTP":
		return nil
	}
	return invalid(field+".protocol", "%q: want TCP, UDP or SCTP", p.Protocol)
}
