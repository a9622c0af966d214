package systemd

import (
	"context"
	"errors"
	"fmt"
	"sync"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

// ErrStatesLost ends a state watch that missed changes: go-systemd drops a
// change when its buffer (StateBufferMax) is full. Read State and watch
// again.
var ErrStatesLost = errors.New("systemd: unit state changes lost")

// StateBufferMax bounds the changes a state watch holds for a consumer
// that has not taken them yet.
const StateBufferMax = 256

// StateChange is a unit's state, read after the manager said it changed.
type StateChange struct {
	Ref   store.Ref // the stored resource the unit is
	State UnitState
}

// StateWatch streams the state changes of a Backend's units.
type StateWatch struct {
	changes chan StateChange
	err     error
}

// Changes delivers the changes in the order the manager reported them and
// is closed when the watch ends.
func (w *StateWatch) Changes() <-chan StateChange { return w.changes }

// Err says why the watch ended, once Changes is closed: the context's
// error, ErrStatesLost, or ErrManager.
func (w *StateWatch) Err() error { return w.err }

// WatchStates streams the state of the backend's units each time the
// manager reports a change of one (a PropertiesChanged signal of the unit,
// which the manager sends to every private connection): the signal's
// values over the unit's last state (read from the manager when first
// seen); units the backend has not held since the watch began are
// skipped. These are
// not store events: they have no revision. The watch ends with ctx. It
// takes the connection's properties subscriber, of which go-systemd keeps
// one per connection: one state watch per Conn at a time.
func (b *Backend) WatchStates(ctx context.Context) (*StateWatch, error) {
	if err := b.cfg.Conn.Subscribe(); err != nil {
		return nil, managerError(ctx, "subscribe", err)
	}
	updates := make(chan *sddbus.PropertiesUpdate, StateBufferMax)
	errs := make(chan error, 1)
	b.cfg.Conn.SetPropertiesSubscriber(updates, errs)
	w := &StateWatch{changes: make(chan StateChange)}
	var names unitNames
	last := map[string]UnitState{}
	go func() {
		defer close(w.changes)
		defer b.cfg.Conn.SetPropertiesSubscriber(nil, nil)
		for {
			var u *sddbus.PropertiesUpdate
			select {
			case <-ctx.Done():
				w.err = ctx.Err()
				return
			case err := <-errs:
				w.err = fmt.Errorf("%w: %v", ErrStatesLost, err)
				return
			case u = <-updates:
			}
			ref, ok := names.ref(ctx, b, u.UnitName)
			if !ok {
				continue
			}
			// The signal's values, over the last state known: by the
			// time it is handled the unit may have changed again, or be
			// gone (a Delete), so it is not read back.
			s, seen := last[u.UnitName]
			if !seen {
				var err error
				if s, err = b.unitState(ctx, u.UnitName); err != nil {
					w.err = err
					return
				}
			}
			for k, v := range u.Changed {
				s.set(k, v.Value())
			}
			last[u.UnitName] = s
			select {
			case w.changes <- StateChange{Ref: ref, State: s}:
			case <-ctx.Done():
				w.err = ctx.Err()
				return
			}
		}
	}()
	return w, nil
}

// unitNames maps the names of a backend's units to their refs: every unit
// held since the watch began (a deleted unit still reports its stop), grown
// when the store's revision moved.
type unitNames struct {
	mu   sync.Mutex
	rev  store.Revision
	refs map[string]store.Ref
}

func (n *unitNames) ref(ctx context.Context, b *Backend, name string) (store.Ref, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ref, ok := n.refs[name]; ok {
		return ref, true
	}
	l, err := b.rev.List(ctx, "", "", backend.ReadOptions{})
	if err != nil {
		return store.Ref{}, false
	}
	if n.refs == nil || l.Revision != n.rev {
		if n.refs == nil {
			n.refs = map[string]store.Ref{}
		}
		n.rev = l.Revision
		for _, r := range l.Items {
			if u, err := b.render(r); err == nil {
				n.refs[u.Name] = r.Ref
			}
		}
	}
	ref, ok := n.refs[name]
	return ref, ok
}
