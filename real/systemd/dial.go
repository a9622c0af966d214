package systemd

import (
	"fmt"
	"os"
	"strconv"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// PrivateSocket is where a system manager serves its private D-Bus socket.
const PrivateSocket = "/run/systemd/private"

// Dial connects to a manager's private D-Bus socket at path (PrivateSocket
// for this machine's manager; /proc/PID/root/run/systemd/private reaches a
// manager in another mount namespace), as go-systemd's
// NewSystemdConnectionContext does for the default path: EXTERNAL
// authentication as this process's uid, no Hello (there is no bus daemon).
// The peer must be in this process's PID namespace: the manager
// authenticates by SO_PEERCRED, and refuses a pid it cannot see.
func Dial(path string) (*sddbus.Conn, error) {
	conn, err := sddbus.NewConnection(func() (*dbus.Conn, error) {
		c, err := dbus.Dial("unix:path=" + path)
		if err != nil {
			return nil, err
		}
		if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("systemd: dial %s: %w: %w", path, ErrManager, err)
	}
	return conn, nil
}
