// Package supervised runs the baremetal face's Pods as podman containers
// supervised by systemd: a backend.Backend (real/systemd's Backend with the
// Pods renderer) whose every Pod is a service unit, the one the baremetal
// face renders (the shape of `podman generate systemd --new`, see package
// face), written to a unit directory and started by the manager; deleting
// the Pod stops the service (podman stop, then podman rm by the cid file)
// and removes the unit. Revisions, history and watch are real/systemd's.
package supervised

import (
	"context"
	"fmt"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/systemd"
)

// UnitPrefix begins the name of every Pod's unit.
const UnitPrefix = "revoada-pod-"

// UnitName is the service unit of the Pod ref:
// revoada-pod-<namespace>_<name>.service ('_' is in no Kubernetes name, so
// two Pods never share a unit).
func UnitName(ref store.Ref) string { return UnitPrefix + ref.Namespace + "_" + ref.Name + ".service" }

// Pods renders a baremetal face Pod (face.Validate holds) as its service
// unit, which the backend starts. Any other resource is
// store.ErrUnsupported.
func Pods(r store.Resource) (systemd.Unit, error) {
	if r.Face != face.BareMetal || r.Ref.Kind != "Pod" {
		return systemd.Unit{}, fmt.Errorf("supervised: %s: %w: only the baremetal face's Pods run supervised (face %q)", r.Ref, store.ErrUnsupported, r.Face)
	}
	if err := face.Validate(r); err != nil {
		return systemd.Unit{}, fmt.Errorf("supervised: %s: %w", r.Ref, err)
	}
	bm, err := face.ByName(face.BareMetal)
	if err != nil {
		return systemd.Unit{}, fmt.Errorf("supervised: %w", err)
	}
	text, err := bm.Encode(r, store.Unit)
	if err != nil {
		return systemd.Unit{}, fmt.Errorf("supervised: %s: %w", r.Ref, err)
	}
	return systemd.Unit{Name: UnitName(r.Ref), Text: text, Start: true}, nil
}

// Open opens a systemd.Backend named "supervised" that holds Pods (cfg.Render
// and cfg.Name are set here); see systemd.Open.
func Open(ctx context.Context, cfg systemd.Config) (*systemd.Backend, error) {
	cfg.Render, cfg.Name = Pods, "supervised"
	return systemd.Open(ctx, cfg)
}
