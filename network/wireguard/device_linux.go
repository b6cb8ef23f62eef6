//go:build linux

package wireguard

import (
	"fmt"
	"log/slog"
	"os"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// nsBind opens WireGuard's UDP sockets in the host namespace, whichever
// thread asks (the device reopens them when the link goes down and up).
type nsBind struct {
	conn.Bind
	enter func(func() error) error
}

func (b *nsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = b.enter(func() error {
		fns, actual, err = b.Bind.Open(port)
		return err
	})
	return fns, actual, err
}

// fixedMTU answers the MTU the tunnel was made with: the TUN device reads it
// with an ioctl on a socket of the calling thread's namespace, which is not
// the host's when the tunnel lives in another.
type fixedMTU struct {
	tun.Device
	mtu int
}

func (f fixedMTU) MTU() (int, error) { return f.mtu, nil }

// wgLogger sends wireguard-go's errors to log; its verbose lines are dropped.
func wgLogger(log *slog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: device.DiscardLogf,
		Errorf: func(format string, args ...any) {
			log.Warn("wireguard: " + fmt.Sprintf(format, args...))
		},
	}
}

// setLooseRPFilter sets reverse-path filtering on a link to loose (2); the
// kernel uses the larger of the link's and "all", so a strict "all" (1)
// becomes loose on it too.
func setLooseRPFilter(link string) error {
	path := "/proc/sys/net/ipv4/conf/" + link + "/rp_filter"
	if err := os.WriteFile(path, []byte("2"), 0o644); err != nil {
		return fmt.Errorf("wireguard: loose rp_filter on %s: %w", link, err)
	}
	return nil
}
