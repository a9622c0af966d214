package gossip

import (
	"context"
	"log/slog"
	"strings"
)

// logBridge is Gossip as the io.Writer under memberlist's *log.Logger: each
// line, "[LEVEL] memberlist: text", becomes a slog record at that level.
//
// It is also how this node learns that its own probe of a member failed:
// memberlist marks the member suspect then, and says so only in its log
// ("Suspect NAME has failed, no acks received"); its API shows no node's
// suspect state. The line is memberlist v0.7.0's (state.go, probeNode);
// TestKilledNodeIsSuspectThenDead fails if it changes.
type logBridge Gossip

const (
	suspectPrefix = "memberlist: Suspect "
	suspectSuffix = " has failed, no acks received"
	// aliveIgnored starts memberlist's line for every alive message a
	// delegate refuses; the refusal is logged by this package already, at
	// most once per node per refusalLogInterval.
	aliveIgnored = "memberlist: ignoring alive message for"
)

func (b *logBridge) Write(p []byte) (int, error) {
	g := (*Gossip)(b)
	msg := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	if rest, ok := strings.CutPrefix(msg, "["); ok {
		if tag, text, ok := strings.Cut(rest, "]"); ok {
			msg = strings.TrimSpace(text)
			switch tag {
			case "DEBUG":
				level = slog.LevelDebug
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
		}
	}
	if rest, ok := strings.CutPrefix(msg, suspectPrefix); ok {
		if name, ok := strings.CutSuffix(rest, suspectSuffix); ok {
			g.localSuspect(name)
		}
	}
	if strings.HasPrefix(msg, aliveIgnored) {
		level = slog.LevelDebug
	}
	g.log.Log(context.Background(), level, msg, "node", g.name[:12])
	return len(p), nil
}
