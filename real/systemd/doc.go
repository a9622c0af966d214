// Package systemd is a backend.Backend over a real systemd manager: every
// resource it holds is a unit file in a unit directory the manager reads,
// managed over D-Bus (github.com/coreos/go-systemd/v22/dbus).
//
// # What a resource becomes
//
// A Renderer maps a resource to its Unit: a file name, the file's text, and
// whether the backend starts it. The default renderer, Units, takes the
// systemd face's units verbatim (Face "systemd", Format Unit, no
// namespace, the kind the name's suffix says); package real/supervised
// renders the baremetal face's Pods. Any other resource is refused with
// store.ErrUnsupported: a pureraft blob, say, has no place in systemd.
//
// # Verbs
//
// Apply writes the unit file atomically (a temporary file in the directory,
// fsync'd, renamed over the unit, the directory fsync'd), has the manager
// reload (daemon-reload) and checks that the manager loaded the unit: a unit
// the manager does not load (LoadState bad-setting, error, masked) is
// rolled back (the previous file restored, reloaded again) and refused with
// store.ErrInvalid carrying the manager's LoadError. A unit that starts
// (Start: services, sockets, timers and paths that are not templates) is
// then restarted if its text changed and started otherwise (a no-op when
// running), so Apply means "run this text", as `systemctl enable --now`
// after an edit would; [Install] sections are not acted on (no .wants links:
// the backend starts what it holds itself, and again at Open). The start is
// a job the manager runs asynchronously: Apply returns once the manager
// accepted it; State reports how it went. A start job the manager refuses
// is a refused Apply (rolled back as above). A create whose unit name is
// a file in the directory that the backend did not write (the host's own
// unit) is refused with store.ErrConflict, the file untouched.
//
// Delete stops a started unit and waits until the manager has it inactive
// or failed (podman containers get their ExecStop and ExecStopPost), removes
// the file, reloads, and clears a failed state, so the manager forgets the
// unit. Writes are serialised, so a write waits for a Delete's stop.
//
// # Revisions
//
// systemd has no revisions. The backend keeps the store's revisions,
// history and watch in a bbolt file of its own (real/disk's Backend, at
// Config.State), which is the truth: Get, List, Watch, Snapshot and Counts
// are served from it, and it holds exactly the units in the directory that
// the backend wrote. Every write is serialised: precondition checked, unit
// file and manager changed, then the revision committed (fsync'd) and
// published; a failure before the commit puts the file back. Open
// reconciles the directory with the revision file (rewrites a unit file
// that is missing or differs, e.g. after a crash between the file and the
// commit, reloads, starts the units that start), so the two agree after any
// crash. A create names its unit in a file beside the revision file
// (Config.State + ".pending") until it commits or is put back: the unit of
// a create a crash interrupted is stopped and removed at Open. Files in the directory the backend did not write are left alone.
// Restore replaces the revision file and reconciles the directory with it
// (units not in the snapshot stopped and removed). Compact is the revision
// file's.
//
// # Watch
//
// Watch reports store events only (the writes, with their revisions): a
// unit changing state in the manager (started, failed, restarted) is not a
// write and gets no revision. State reads a unit's state from the manager;
// WatchStates streams the state changes the manager reports (its
// PropertiesChanged signals) of the units the backend holds.
package systemd
