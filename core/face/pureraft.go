package face

import (
	"fmt"

	"revoada.dev/revoada/core/store"
)

// pureRaft is the raw door: native store envelopes, any face's resources.
type pureRaft struct{}

var _ Face = pureRaft{}

func (pureRaft) Name() string { return PureRaft }

func (pureRaft) Formats() []store.Format { return []store.Format{store.Native} }

// Decode reads one or more concatenated envelopes. Each must hold a
// resource its own face would have made (Validate): the envelope is a door
// into the store, never a way around a face's checks. Revisions are zeroed
// (the store assigns its own).
func (pureRaft) Decode(file string, data []byte, f store.Format) ([]store.Resource, error) {
	if f != store.Native {
		return nil, fmt.Errorf("face: pureraft: %s: %w", file, errFormat(PureRaft, f, pureRaft{}.Formats()))
	}
	if err := checkSize(data); err != nil {
		return nil, fmt.Errorf("face: pureraft: %s: %w", file, err)
	}
	var out []store.Resource
	for i := 0; len(data) > 0; i++ {
		r, rest, err := store.DecodeResource(data)
		if err == nil {
			err = Validate(r)
		}
		if err == nil {
			err = checkCount(i + 1)
		}
		if err != nil {
			return nil, fmt.Errorf("face: pureraft: %s: envelope %d: %w", file, i+1, err)
		}
		r.CreateRevision, r.ModRevision, r.Version = 0, 0, 0
		out = append(out, r)
		data = rest
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("face: pureraft: %s: %w", file, invalid("input", "empty; want at least one envelope"))
	}
	return out, nil
}

// checkEnvelope checks what AppendResource needs to not panic.
func checkEnvelope(r store.Resource) error {
	if err := r.Ref.Validate(); err != nil {
		return err
	}
	if _, err := ByName(r.Face); err != nil {
		return err
	}
	if _, err := store.ParseFormat(r.Format.String()); err != nil {
		return invalid("format", "unknown %s", r.Format)
	}
	return checkPayload("payload", r.Payload)
}

// Encode writes r's native envelope, revisions included.
func (pureRaft) Encode(r store.Resource, f store.Format) ([]byte, error) {
	if f != store.Native {
		return nil, fmt.Errorf("face: pureraft: %w", errFormat(PureRaft, f, pureRaft{}.Formats()))
	}
	if err := checkEnvelope(r); err != nil {
		return nil, fmt.Errorf("face: pureraft: %w", err)
	}
	return store.AppendResource(nil, r), nil
}
