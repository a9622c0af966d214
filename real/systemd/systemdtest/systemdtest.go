// Package systemdtest starts a real systemd manager for tests: systemd
// (Debian's /lib/systemd/systemd) as PID 1 of a fresh PID and mount
// namespace (unshare -pfm), with private tmpfs mounts on /tmp, /run and
// /var/tmp and /etc bound read-only, booted into a target of its own
// (Target), never into sysinit.target or basic.target, whose units would
// apply sysctls and remount the host's root. It sees units only from the
// directories the harness gives it (SYSTEMD_UNIT_PATH without a trailing
// ':', so no system unit directory) and runs no generator. An empty
// stand-in sysinit.target lets units with default dependencies start.
//
// Tests reach its private D-Bus socket through a bridge: socat, run inside
// the manager's PID and mount namespaces (nsenter), listening on Dir/bus.
// The socket itself, /proc/PID/root/run/systemd/private, refuses a client
// from outside the PID namespace: the manager authenticates a peer by
// SO_PEERCRED, whose pid reads 0 across PID namespaces, which sd-bus takes
// as no credentials, so EXTERNAL authentication fails and it hangs up.
//
// Files the manager must see live under a directory this package creates
// on the host (under Base), not under /tmp, which the manager sees as its
// own empty tmpfs. Cleanup kills the manager with SIGKILL, which ends every
// process of its PID namespace (the bridge, services, containers), and
// removes the directory.
//
// A test that cannot start a manager (no unshare, nsenter, socat or
// systemd, not root) is skipped, unless REVOADA_REQUIRE_SYSTEMD=1 makes
// that a failure.
package systemdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"revoada.dev/revoada/real/systemd"
)

// Paths and names the harness uses.
const (
	// SystemdPath is the manager binary (Debian's systemd package).
	SystemdPath = "/lib/systemd/systemd"
	// Base holds each manager's directory; it must not be under /tmp, /run
	// or /var/tmp, which the manager sees as its own empty tmpfs.
	Base = "/var/lib/revoada-systemdtest"
	// Target is the unit the manager boots into: a target with no
	// dependencies.
	Target = "revoada-test.target"
	// RequireEnv names the variable that turns a skip into a failure.
	RequireEnv = "REVOADA_REQUIRE_SYSTEMD"
	// startGuard bounds the wait for the manager's D-Bus socket.
	startGuard = 30 * time.Second
)

// script sets up the namespace's mounts and becomes the manager. Any step
// that fails stops the shell before systemd runs.
func script(opt Options) string {
	s := `mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/tmp && mount -o bind,ro /etc /etc && `
	for _, d := range opt.Tmpfs {
		s += `mount -t tmpfs tmpfs ` + shellQuote(d) + ` && `
	}
	s += `exec ` + SystemdPath + ` --system --unit=` + Target
	for _, e := range opt.Env {
		// As PID 1, systemd reads the arguments it does not know as kernel
		// command line options: systemd.setenv= sets its units' environment.
		s += ` ` + shellQuote("systemd.setenv="+e)
	}
	return s
}

func shellQuote(s string) string { return `'` + strings.ReplaceAll(s, `'`, `'\''`) + `'` }

// Options adapt a manager's namespace to what a test runs in it.
type Options struct {
	// Tmpfs are directories, existing on the host, that get an empty
	// tmpfs of their own in the namespace: writable places under the
	// read-only /etc.
	Tmpfs []string
	// Env are VAR=VALUE settings of every unit's environment.
	Env []string
}

// standIns are empty targets named like the ones units with default
// dependencies require (a service Requires= sysinit.target), so such units
// can start. They pull in nothing: the real sysinit.target would set the
// host up (sysctls, remounting the root, tmpfiles).
var standIns = []string{"sysinit.target"}

// Manager is a running systemd manager.
type Manager struct {
	// PID is the manager's process id outside its namespace.
	PID int
	// Dir is the test's directory on the host (under Base), visible to the
	// manager at the same path.
	Dir string
	// UnitDir is a unit directory in the manager's search path, empty at
	// start, under Dir.
	UnitDir string
	// Conn is a connection to the manager's private D-Bus socket.
	Conn *sddbus.Conn

	bridge *exec.Cmd
}

// startBridge starts socat in the manager's namespaces, relaying
// Socket to the private socket.
func (m *Manager) startBridge() error {
	m.bridge = exec.Command("nsenter", "-t", strconv.Itoa(m.PID), "-p", "-m", "--",
		"socat", "UNIX-LISTEN:"+m.Socket()+",fork", "UNIX-CONNECT:"+systemd.PrivateSocket)
	out, err := os.Create(filepath.Join(m.Dir, "bridge.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	m.bridge.Stdout, m.bridge.Stderr = out, out
	if err := m.bridge.Start(); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	go m.bridge.Wait() // it ends with the manager's namespace
	return nil
}

// Socket is the bridge to the manager's private D-Bus socket.
func (m *Manager) Socket() string { return filepath.Join(m.Dir, "bus") }

// private is the manager's own private socket, seen from the host.
func (m *Manager) private() string {
	return filepath.Join("/proc", strconv.Itoa(m.PID), "root", systemd.PrivateSocket)
}

// Root is the path, from the host, of the manager's root directory (its
// /tmp and /run are its own).
func (m *Manager) Root() string { return filepath.Join("/proc", strconv.Itoa(m.PID), "root") }

// Unavailable skips the test, or fails it when RequireEnv is 1.
func Unavailable(t testing.TB, env, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(env) == "1" {
		t.Fatalf("%s=1: %s", env, msg)
	}
	t.Skipf("%s (set %s=1 to make this a failure)", msg, env)
}

// Start starts a manager for t and registers its cleanup. It skips the test
// (or fails it, see RequireEnv) when no manager can start here.
func Start(t testing.TB) *Manager {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opt Options) *Manager {
	t.Helper()
	for _, bin := range []string{"unshare", "nsenter", "socat", "sh"} {
		if _, err := exec.LookPath(bin); err != nil {
			Unavailable(t, RequireEnv, "systemdtest: %s not found: %v", bin, err)
		}
	}
	if _, err := os.Stat(SystemdPath); err != nil {
		Unavailable(t, RequireEnv, "systemdtest: no systemd manager: %v", err)
	}
	if os.Geteuid() != 0 {
		Unavailable(t, RequireEnv, "systemdtest: a system manager in a namespace needs root (euid %d)", os.Geteuid())
	}
	if err := os.MkdirAll(Base, 0o755); err != nil {
		Unavailable(t, RequireEnv, "systemdtest: %v", err)
	}
	dir, err := os.MkdirTemp(Base, "m")
	if err != nil {
		Unavailable(t, RequireEnv, "systemdtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := &Manager{Dir: dir, UnitDir: filepath.Join(dir, "units")}
	harness, none := filepath.Join(dir, "harness"), filepath.Join(dir, "none")
	for _, d := range []string{harness, none, m.UnitDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := "[Unit]\nDescription=revoada test manager\n"
	if err := os.WriteFile(filepath.Join(harness, Target), []byte(target), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range standIns {
		standIn := "[Unit]\nDescription=revoada test stand-in: pulls in nothing\n"
		if err := os.WriteFile(filepath.Join(harness, name), []byte(standIn), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command("unshare", "-pfm", "--mount-proc", "--propagation", "private", "sh", "-c", script(opt))
	cmd.Env = append(os.Environ(),
		"SYSTEMD_UNIT_PATH="+harness+":"+m.UnitDir, // no trailing ':': no system unit directory
		"SYSTEMD_GENERATOR_PATH="+none,
		"SYSTEMD_ENVIRONMENT_GENERATOR_PATH="+none,
	)
	out, err := os.Create(filepath.Join(dir, "unshare.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		Unavailable(t, RequireEnv, "systemdtest: unshare: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if m.Conn != nil {
			m.Conn.Close()
		}
		if m.PID > 0 {
			// SIGKILL to a PID namespace's init ends the whole namespace.
			if err := syscall.Kill(m.PID, syscall.SIGKILL); err != nil {
				t.Logf("systemdtest: kill -9 %d: %v", m.PID, err)
			}
		} else {
			cmd.Process.Kill()
		}
		select {
		case <-exited:
		case <-time.After(startGuard):
			t.Errorf("systemdtest: unshare (pid %d) did not exit after the manager was killed", cmd.Process.Pid)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), startGuard)
	defer cancel()
	if err := m.await(ctx, cmd.Process.Pid, exited); err != nil {
		log, _ := os.ReadFile(out.Name())
		Unavailable(t, RequireEnv, "systemdtest: the manager did not come up: %v; unshare's output: %q", err, log)
	}
	return m
}

// await waits for the manager, the child of unshare, to answer on its
// private socket, and connects.
func (m *Manager) await(ctx context.Context, unshare int, exited <-chan error) error {
	bin, err := filepath.EvalSymlinks(SystemdPath) // /lib is /usr/lib on merged-/usr systems
	if err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("unshare exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
		if m.PID == 0 {
			m.PID, last = child(unshare)
			if m.PID == 0 {
				continue
			}
		}
		if exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(m.PID), "exe")); err != nil || exe != bin {
			last = fmt.Errorf("pid %d is %q, not yet the manager (%v)", m.PID, exe, err)
			continue
		}
		if _, err := os.Stat(m.private()); err != nil {
			last = err
			continue
		}
		if m.bridge == nil {
			if last = m.startBridge(); last != nil {
				return last
			}
			continue
		}
		if _, err := os.Stat(m.Socket()); err != nil {
			last = err
			continue
		}
		conn, err := systemd.Dial(m.Socket())
		if err != nil {
			last = err
			continue
		}
		if _, err := conn.GetManagerProperty("Version"); err != nil {
			conn.Close()
			last = err
			continue
		}
		m.Conn = conn
		return nil
	}
}

// child is the only child of pid.
func child(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0, errors.New("unshare has not forked yet")
	}
	return strconv.Atoi(f[0])
}

// Command is a command run inside the manager's PID and mount namespaces
// (nsenter), with env added to this process's environment.
func (m *Manager) Command(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(m.PID), "-p", "-m", "--", name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Verify runs systemd-analyze verify on unit files and returns what it
// said: it exits 0 on warnings, so its output, not its status, is the
// verdict; an exit status other than 0 is added to the output. It skips
// the test (see RequireEnv) without systemd-analyze.
func Verify(t testing.TB, files ...string) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		Unavailable(t, RequireEnv, "systemdtest: systemd-analyze not found: %v", err)
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify"}, files...)...).CombinedOutput()
	if err != nil {
		out = fmt.Appendf(out, "(systemd-analyze: %v)", err)
	}
	return string(out)
}
