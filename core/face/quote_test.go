package face_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	"pgregory.net/rapid"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// systemdSplit is a reference for how systemd reads a command line
// (systemd.service(5), "Command lines"): backslash-newline continues the
// line, words split at blanks, double and single quotes group, C escapes
// are undone, "\;" is a literal semicolon; then "%%" becomes "%"
// (specifiers) and "$$" becomes "$" (environment). It covers what
// execQuote writes, not every systemd escape.
func systemdSplit(line string) ([]string, error) {
	line = strings.ReplaceAll(line, "\\\n", " ")
	var words []string
	for i := 0; ; {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return words, nil
		}
		word, next, err := systemdWord(line, i)
		if err != nil {
			return nil, err
		}
		word = strings.ReplaceAll(word, "%%", "%")
		words = append(words, strings.ReplaceAll(word, "$$", "$"))
		i = next
	}
}

func systemdWord(line string, i int) (string, int, error) {
	var b strings.Builder
	quote := byte(0)
	for ; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			return b.String(), i, nil
		case c == '"' || c == '\'':
			if quote == 0 {
				quote = c
				continue
			}
			if quote == c {
				quote = 0
				continue
			}
			b.WriteByte(c)
		case c == '\\':
			n, err := unescape(line[i+1:], &b)
			if err != nil {
				return "", 0, err
			}
			i += n
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		return "", 0, fmt.Errorf("unterminated quote")
	}
	return b.String(), i, nil
}

func unescape(s string, b *strings.Builder) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("trailing backslash")
	}
	switch s[0] {
	case '\\', '"', '\'', ';':
		b.WriteByte(s[0])
	case 'n':
		b.WriteByte('\n')
	case 't':
		b.WriteByte('\t')
	case 'x':
		v, err := strconv.ParseUint(s[1:3], 16, 8)
		if err != nil {
			return 0, err
		}
		b.WriteByte(byte(v))
		return 3, nil
	default:
		return 0, fmt.Errorf("unknown escape \\%c", s[0])
	}
	return 1, nil
}

type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// execArgv finds key in a rendered unit (parsed with go-systemd) and splits
// its command line the way systemd would.
func execArgv(t fataler, u []byte, key string) []string {
	t.Helper()
	opts, err := unit.DeserializeOptions(bytes.NewReader(u))
	if err != nil {
		t.Fatalf("unit does not parse: %v\n%s", err, u)
	}
	for _, o := range opts {
		if o.Name == key {
			argv, err := systemdSplit(strings.TrimLeft(o.Value, "-"))
			if err != nil {
				t.Fatalf("%s=%s: %v", key, o.Value, err)
			}
			return argv
		}
	}
	t.Fatalf("no %s in\n%s", key, u)
	return nil
}

// podmanRun is how every ExecStart of a one-container Pod begins: podman
// generate systemd --new's flags.
var podmanRun = []string{"/usr/bin/podman", "run", "--cidfile=%t/%n.ctr-id", "--cgroups=no-conmon", "--rm", "--sdnotify=conmon", "-d", "--replace"}

// TestUnitQuotingRoundTrips renders Pods with arbitrary arguments and env
// values and reads the ExecStart line back with the systemd reference.
func TestUnitQuotingRoundTrips(t *testing.T) {
	bm, _ := face.ByName(face.BareMetal)
	rapid.Check(t, func(t *rapid.T) {
		args := rapid.SliceOfN(rapid.String(), 0, 4).Draw(t, "args")
		value := rapid.StringOf(rapid.RuneFrom([]rune(" \t\n\"'\\$%;{}`é\x01a"))).Draw(t, "value")
		yamlArgs, _ := jsonString(args)
		yamlValue, _ := jsonString(value)
		src := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","args":%s,"env":[{"name":"V","value":%s}]}]}}`, yamlArgs, yamlValue)
		rs, err := bm.Decode("p.json", []byte(src), store.JSON)
		if err != nil {
			t.Skip("not a valid pod:", err)
		}
		u, err := bm.Encode(rs[0], store.Unit)
		if err != nil {
			t.Fatal(err)
		}
		argv := execArgv(t, u, "ExecStart")
		want := append(slices.Concat(podmanRun, []string{"--name=default_p_c", "--env=V=" + value, "i"}), args...)
		if !slices.Equal(argv, want) {
			t.Fatalf("argv %q\nwant %q\n%s", argv, want, u)
		}
	})
}
