package face

// ManifestTokensMax bounds the values (about: separators, collections and
// YAML lines) in one Kubernetes or baremetal input. Parsing costs about
// 700 bytes a value (a megabyte of "1," cost 343 MB as YAML); the largest
// real manifests, CRDs with big schemas, hold some tens of thousands.
const ManifestTokensMax = 80000

// checkNesting refuses JSON or YAML nested deeper than NestingMax, or
// holding more than ManifestTokensMax values, before any parser sees it. The parsers are recursive, and their cost grows with
// depth: a 1 MB file of arrays nested 9,990 deep took 22 s and 450 MB to be
// refused by them. The scan is linear and allocates nothing. It counts:
//
//   - flow collections, '[' and '{' outside quoted strings (all of JSON);
//   - YAML block nesting: a line's indentation opens a level when it is
//     deeper than the line before it, and every "- " that starts a line's
//     content (a sequence in a sequence: "- - - x") opens one more.
//
// Quoted strings ("..." with backslash escapes, '...' with doubled quotes;
// in YAML only where a quoted scalar can start) and YAML comments are
// skipped. For YAML the count is an upper bound of
// the real depth (a deeper indentation under a scalar opens nothing), which
// only matters for documents near the limit.
func checkNesting(data []byte, yaml bool) error {
	var (
		flow    int   // open flow collections
		indents []int // YAML block indentation stack
		line    = 1
		tokens  int // separators and collections: about one per scalar
	)
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == ',' || c == ':' || c == '\n' && yaml:
			if tokens++; tokens > ManifestTokensMax {
				return invalid("input", "line %d: more than %d values (ManifestTokensMax)", line, ManifestTokensMax)
			}
			if c != '\n' {
				break
			}
			fallthrough
		case c == '\n':
			line++
			if yaml && flow == 0 {
				var depth int
				indents, depth, i = blockDepth(data, i+1, indents)
				if depth > NestingMax {
					return invalid("input", "line %d: nested deeper than %d (NestingMax)", line, NestingMax)
				}
				i-- // the loop's i++ lands on the line's content
			}
		case (c == '"' || c == '\'' && yaml) && (!yaml || startsScalar(data, i)):
			i = skipQuoted(data, i, c)
		case c == '#' && yaml && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n'):
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case c == '[' || c == '{':
			flow++
			tokens++
			if flow+len(indents) > NestingMax {
				return invalid("input", "line %d: nested deeper than %d (NestingMax)", line, NestingMax)
			}
		case (c == ']' || c == '}') && flow > 0:
			flow--
		}
	}
	if yaml && len(data) > 0 && data[0] != '\n' { // the first line has no newline before it
		if _, depth, _ := blockDepth(data, 0, nil); depth > NestingMax {
			return invalid("input", "line 1: nested deeper than %d (NestingMax)", NestingMax)
		}
	}
	return nil
}

// blockDepth reads the indentation and leading "- " markers of the line
// starting at i, updates the indentation stack and returns it, the line's
// block depth and the offset of its content.
func blockDepth(data []byte, i int, indents []int) ([]int, int, int) {
	indent := 0
	for i < len(data) && data[i] == ' ' {
		indent++
		i++
	}
	if i >= len(data) || data[i] == '\n' || data[i] == '#' {
		return indents, len(indents), i // a blank or comment line opens nothing
	}
	for len(indents) > 0 && indents[len(indents)-1] >= indent {
		indents = indents[:len(indents)-1]
	}
	indents = append(indents, indent)
	depth := len(indents)
	for i+1 < len(data) && data[i] == '-' && (data[i+1] == ' ' || data[i+1] == '\n') {
		depth++
		i++
		for i < len(data) && data[i] == ' ' {
			i++
		}
	}
	return indents, depth, i
}

// startsScalar reports whether a quote at i opens a YAML quoted scalar: it
// follows, past blanks, the start of a line, a key's ':', a sequence's '-',
// or a flow collection's '[', '{' or ','. A quote inside a plain scalar
// (key: it's) opens nothing.
func startsScalar(data []byte, i int) bool {
	j := i - 1
	for j >= 0 && (data[j] == ' ' || data[j] == '\t') {
		j--
	}
	if j < 0 {
		return true
	}
	switch data[j] {
	case '\n', ':', '-', '[', '{', ',':
		return true
	}
	return false
}

// skipQuoted returns the offset of the quote closing the string opened at
// i, or the last offset when it never closes. A double-quoted string ends
// at an unescaped double quote; a single-quoted one at a single quote that
// is not doubled.
func skipQuoted(data []byte, i int, q byte) int {
	for j := i + 1; j < len(data); j++ {
		switch {
		case q == '"' && data[j] == '\\':
			j++
		case data[j] == q && q == '\'' && j+1 < len(data) && data[j+1] == '\'':
			j++
		case data[j] == q:
			return j
		}
	}
	return len(data) - 1
}
