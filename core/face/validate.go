package face

import (
	"bytes"
	"slices"

	"revoada.dev/revoada/core/store"
)

// Validate checks a resource as its own face would have made it, whatever
// door it came through: decoding its payload with the face named by its Face
// field, in its stored format, must give back exactly that resource — the
// same ref, face, format and payload bytes. A resource is a fixed point of
// its face's Decode, so every rule a face enforces on its input (names,
// kinds, served API versions, typed fields, unit syntax) holds for anything
// that passes here, and nothing the face would refuse, or write differently,
// can reach the store by a native envelope.
//
// The pureraft face owns opaque blobs: a resource whose Face is pureraft is
// stored in the native format, its payload is not interpreted, and its kind
// may not be one another face owns (a Kubernetes built-in kind, NomadJob, a
// systemd unit type), so a blob never shadows an object that face renders.
//
// Errors wrap store.ErrInvalid or store.ErrUnsupported and name the field.
func Validate(r store.Resource) error {
	if err := r.Ref.Validate(); err != nil {
		return err
	}
	f, err := ByName(r.Face)
	if err != nil {
		return err
	}
	if err := checkPayload("payload", r.Payload); err != nil {
		return err
	}
	if r.Face == PureRaft {
		return checkBlob(r)
	}
	if !slices.Contains(storedFormats[r.Face], r.Format) {
		return invalid("format", "the %s face stores %v, not %s", r.Face, storedFormats[r.Face], r.Format)
	}
	rs, err := f.Decode(r.Ref.Name, r.Payload, r.Format)
	if err != nil {
		return err
	}
	switch {
	case len(rs) != 1:
		return invalid("payload", "holds %d resources; a stored resource is one", len(rs))
	case rs[0].Ref != r.Ref:
		return invalid("ref", "the payload is %s, not %s", rs[0].Ref, r.Ref)
	case !bytes.Equal(rs[0].Payload, r.Payload):
		return invalid("payload", "not in the %s face's stored form (decode and apply the source file instead)", r.Face)
	}
	return nil
}

// storedFormats is the format each face stores its resources in.
var storedFormats = map[string][]store.Format{
	Kubernetes: {store.JSON},
	BareMetal:  {store.JSON},
	Nomad:      {store.JSON},
	Systemd:    {store.Unit},
	PureRaft:   {store.Native},
}

// checkBlob checks a pureraft-owned resource.
func checkBlob(r store.Resource) error {
	if r.Format != store.Native {
		return invalid("format", "a pureraft blob is stored as native, not %s", r.Format)
	}
	if owner := kindOwner(r.Ref.Kind); owner != "" {
		return invalid("kind", "%q belongs to the %s face; a pureraft blob may not shadow it", r.Ref.Kind, owner)
	}
	return nil
}

// kindOwner names the face that owns kind, or "" when none does.
func kindOwner(kind string) string {
	switch {
	case kind == NomadJobKind:
		return Nomad
	case slices.Contains(unitTypes, kind):
		return Systemd
	case len(servedAt(kind)) > 0:
		return Kubernetes
	}
	return ""
}
