package face

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// parseJSON decodes exactly one JSON value. Numbers stay json.Number (no
// float rounding); duplicate object keys and trailing data are errors, which
// encoding/json alone would let through. field names the input in errors.
func parseJSON(data []byte, field string) (any, error) {
	if err := checkJSONKeys(data); err != nil {
		return nil, invalid(field, "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid(field, "%v", err)
	}
	return v, nil
}

// jsonFrame is one open object or array in checkJSONKeys.
type jsonFrame struct {
	keys    map[string]bool // nil for an array
	wantKey bool            // an object expects a key next
}

// checkJSONKeys walks the token stream of one JSON value and fails on a
// duplicate key in any object or on anything after the value.
func checkJSONKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []jsonFrame
	for started := false; !started || len(stack) > 0; started = true {
		tok, err := dec.Token()
		if err != nil {
			return eofIsTruncation(err)
		}
		stack, err = stepJSON(stack, tok)
		if err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// stepJSON advances the frame stack by one token.
func stepJSON(stack []jsonFrame, tok json.Token) ([]jsonFrame, error) {
	if n := len(stack); n > 0 && stack[n-1].keys != nil {
		top := &stack[n-1]
		if top.wantKey {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return nil, fmt.Errorf("duplicate key %q", key)
				}
				top.keys[key], top.wantKey = true, false
				return stack, nil
			}
		} else {
			top.wantKey = true // tok is the value of the last key
		}
	}
	switch tok {
	case json.Delim('{'):
		stack = append(stack, jsonFrame{keys: map[string]bool{}, wantKey: true})
	case json.Delim('['):
		stack = append(stack, jsonFrame{})
	case json.Delim('}'), json.Delim(']'):
		stack = stack[:len(stack)-1]
	}
	return stack, nil
}

func eofIsTruncation(err error) error {
	if err == io.EOF {
		return errors.New("unexpected end of JSON input")
	}
	return err
}

// canonicalJSON encodes v with object keys sorted (encoding/json sorts map
// keys), numbers normalised (see normalNumber), without HTML escaping and
// without a trailing newline: equal values give equal bytes, whether they
// arrived as JSON, YAML or HCL.
func canonicalJSON(v any) ([]byte, error) {
	v, err := normalNumbers(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// normalNumbers replaces, in place, every json.Number in a decoded tree by
// its normal form.
func normalNumbers(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case json.Number:
		return normalNumber(x)
	case map[string]any:
		for _, k := range sortedKeys(x) { // the first error is the same on every run
			if x[k], err = normalNumbers(x[k]); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, e := range x {
			if x[i], err = normalNumbers(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// normalNumber reads a number as Kubernetes' and Nomad's decoders do, an
// int64 when it is one and a float64 otherwise, and writes integral floats
// within int64's range as integers: "1.0", "1E0" and "-0" are all 1 or 0,
// so a value has one spelling whichever format carried it. An integer
// literal beyond int64's range, and a number beyond float64's, are errors:
// neither may lose digits silently.
func normalNumber(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return nil, fmt.Errorf("number %.40s: %w", n, errNumberRange)
	}
	if !strings.ContainsAny(string(n), ".eE") && !exactInteger(string(n), f) && strconv.FormatFloat(f, 'f', -1, 64) != string(n) {
		return nil, fmt.Errorf("integer %.40s: %w", n, errIntRange)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return int64(f), nil
	}
	if f == math.Trunc(f) {
		// encoding/json would write it as an integer literal of rounded
		// digits; the exponent form reads back as this float exactly.
		return json.Number(strconv.FormatFloat(f, 'e', -1, 64)), nil
	}
	return f, nil
}

// exactInteger reports whether the integer literal lit is exactly the
// float64 f. Beyond int64, an integer literal is kept as a float only when
// it loses no digits: it is exactly that float, or it is how that float
// prints (what a JSON or YAML writer makes of a float below 1e21:
// 9.223372036854776e18 is written 9223372036854776000, and reads back as
// the same float).
func exactInteger(lit string, f float64) bool {
	i, ok := new(big.Int).SetString(lit, 10)
	if !ok || math.IsInf(f, 0) {
		return false
	}
	g, acc := big.NewFloat(f).Int(nil)
	return acc == big.Exact && g.Cmp(i) == 0
}

// checkPayload rejects a stored form over store.PayloadBytesMax.
func checkPayload(field string, p []byte) error {
	if len(p) > InputBytesMax {
		return invalid(field, "stored form is %d bytes, limit %d", len(p), InputBytesMax)
	}
	return nil
}

var errIntRange = errors.New("integer beyond int64's range, and not exactly a float64: it would lose digits")
