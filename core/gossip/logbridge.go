package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// newLogBridge turns memberlist's log.Logger lines ("[WARN] memberlist:
// ...") into slog records at the matching level.
func newLogBridge(l *slog.Logger) *log.Logger {
	return log.New(logBridge{l}, "", 0)
}

type logBridge struct{ log *slog.Logger }

var logLevels = []struct {
	prefix string
	level  slog.Level
}{
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func (b logBridge) Write(p []byte) (int, error) {
	msg, level := strings.TrimSpace(string(p)), slog.LevelInfo
	for _, l := range logLevels {
		if rest, ok := strings.CutPrefix(msg, l.prefix); ok {
			msg, level = strings.TrimSpace(rest), l.level
			break
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	b.log.Log(context.Background(), level, msg, "component", "memberlist")
	return len(p), nil
}
