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
	return checkOwnKind("kind", r.Ref.Kind, "a pureraft blob")
}

// ownedKinds are the kinds the faces own, with every name a command line
// may give them (Kinds: singular, plural, short names, any case).
var ownedKinds = Kinds(nil, nil)

// checkOwnKind refuses a kind that answers to a name of a kind some face
// owns — a Kubernetes built-in, NomadJob, a systemd unit type — in any
// spelling kubectl would read as that kind ("pod", "pods", "po", "SVC"). The
// store keys a resource by kind, namespace and name, without an API group:
// a blob or a custom resource of such a kind would overwrite that face's
// objects, or make its names ambiguous. what says who asked ("a pureraft
// blob", "a custom resource").
func checkOwnKind(field, kind, what string) error {
	owners := KindsNamed(kind, ownedKinds)
	if len(owners) == 0 {
		return nil
	}
	o := owners[0]
	return invalid(field, "%q is a name of the %s face's kind %s; %s needs a kind of its own (the store keys resources by kind, without an API group)", kind, o.Face, o.Kind, what)
}
