package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
)

// Role is what an identity may do; the zero Role may do nothing.
type Role uint8

// The roles, each allowing what the one before it does and more.
const (
	ReadOnly Role = iota + 1
	ReadWrite
	Admin
)

var roleNames = map[Role]string{ReadOnly: "read-only", ReadWrite: "read-write", Admin: "admin"}

func (r Role) String() string {
	if s, ok := roleNames[r]; ok {
		return s
	}
	return "none"
}

// ParseRole parses a role's name.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if n == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (want read-only, read-write or admin)", s)
}

// TokenBytesMin is the shortest bearer token an access file may hold: a
// shorter one is guessable.
const TokenBytesMin = 16

// AccessFileBytesMax bounds an access file.
const AccessFileBytesMax = 1 << 20

// Access says who a request comes from and what they may do: bearer
// tokens and client-certificate users, mapped to roles. Deny by default.
type Access struct {
	tokens map[[sha256.Size]byte]string // sha256(token) → user
	roles  map[string]Role
	// ClientCAs verifies client certificates; nil accepts none.
	ClientCAs *x509.CertPool
}

// accessFile is the access file's JSON:
//
//	{"tokens": {"TOKEN": "USER", ...}, "roles": {"USER": "read-only|read-write|admin", ...}}
type accessFile struct {
	Tokens map[string]string `json:"tokens"`
	Roles  map[string]string `json:"roles"`
}

// ParseAccess parses an access file's bytes. Errors name what is wrong:
// malformed JSON, an unknown field, a token shorter than TokenBytesMin,
// an empty user, an unknown role, a token whose user has no role.
func ParseAccess(data []byte) (*Access, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f accessFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("access file: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("access file: data after the JSON object")
	}
	if err := noDuplicateKeys(json.NewDecoder(bytes.NewReader(data)), ""); err != nil {
		return nil, fmt.Errorf("access file: %w", err)
	}
	a := &Access{tokens: map[[sha256.Size]byte]string{}, roles: map[string]Role{}}
	for _, user := range sortedKeys(f.Roles) {
		if strings.TrimSpace(user) == "" {
			return nil, fmt.Errorf("access file: roles: an empty user name")
		}
		r, err := ParseRole(f.Roles[user])
		if err != nil {
			return nil, fmt.Errorf("access file: roles: user %q: %w", user, err)
		}
		a.roles[user] = r
	}
	for i, tok := range sortedKeys(f.Tokens) {
		user := f.Tokens[tok]
		switch {
		case len(tok) < TokenBytesMin:
			return nil, fmt.Errorf("access file: tokens: token %d (of user %q) has %d bytes, fewer than %d", i+1, user, len(tok), TokenBytesMin)
		case strings.TrimSpace(tok) != tok || strings.ContainsFunc(tok, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }):
			// HTTP trims a header's value, and the CLI a token file's; no
			// header may hold a control character.
			return nil, fmt.Errorf("access file: tokens: token %d (of user %q) cannot be sent: white space at an end, or a control character", i+1, user)
		case strings.TrimSpace(user) == "":
			return nil, fmt.Errorf("access file: tokens: token %d has an empty user", i+1)
		case a.roles[user] == 0:
			return nil, fmt.Errorf("access file: tokens: user %q has no role", user)
		}
		a.tokens[sha256.Sum256([]byte(tok))] = user
	}
	return a, nil
}

// ReadAccess reads and parses an access file.
func ReadAccess(path string) (*Access, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(fh, AccessFileBytesMax+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if buf.Len() > AccessFileBytesMax {
		return nil, fmt.Errorf("%s: larger than %d bytes, the limit", path, AccessFileBytesMax)
	}
	a, err := ParseAccess(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// identify names the user r comes from: its bearer token's, else its
// verified client certificate's common name. Errors: ErrUnauthenticated.
func (a *Access) identify(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") { // a scheme's case is no part of it (RFC 9110 11.1)
			return "", fmt.Errorf("%w: an Authorization header that is not a bearer token", ErrUnauthenticated)
		}
		if user, ok := a.tokens[sha256.Sum256([]byte(tok))]; ok {
			return user, nil
		}
		return "", fmt.Errorf("%w: an unknown bearer token", ErrUnauthenticated)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if cn := r.TLS.VerifiedChains[0][0].Subject.CommonName; cn != "" {
			return cn, nil
		}
		return "", fmt.Errorf("%w: a client certificate without a common name", ErrUnauthenticated)
	}
	return "", fmt.Errorf("%w: send a bearer token or a client certificate", ErrUnauthenticated)
}

// allow says whether r may do what needs role need, and as whom.
func (a *Access) allow(r *http.Request, need Role) (string, error) {
	user, err := a.identify(r)
	if err != nil {
		return "", err
	}
	if has := a.roles[user]; has < need {
		return user, fmt.Errorf("%w: user %q has role %s, and this needs %s", ErrForbidden, user, has, need)
	}
	return user, nil
}

// noDuplicateKeys refuses a key given twice in one object of the JSON
// value dec reads (in is the access file's field it is in, "" at the
// top): encoding/json keeps the last silently, so that a second entry
// for a user would change its role, or a second one for a token its
// user, unseen. The error never shows a token.
func noDuplicateKeys(dec *json.Decoder, in string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			if in == "" {
				key = strings.ToLower(key) // encoding/json matches a field's name so
			}
			if seen[key] {
				switch in {
				case "":
					return fmt.Errorf("%q given twice", key)
				case "tokens":
					return errors.New("tokens: a token given twice")
				default:
					return fmt.Errorf("%s: user %q given twice", in, key)
				}
			}
			seen[key] = true
			field := in
			if field == "" {
				field = key
			}
			if err := noDuplicateKeys(dec, field); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := noDuplicateKeys(dec, in); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
