package kvtxn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrScript is wrapped by every [*ScriptError].
var ErrScript = errors.New("kvtxn: bad transaction script")

// MaxScriptLine is the longest line ParseScript accepts (values are bounded
// by the server's max_payload, 1 MiB by default, and may be written with
// escapes that take up to four characters per byte).
const MaxScriptLine = 8 << 20

// ScriptError is a syntax or rule error at one line of a script.
type ScriptError struct {
	Line int
	Msg  string
}

func (e *ScriptError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Unwrap returns ErrScript.
func (e *ScriptError) Unwrap() error { return ErrScript }

// Statement is one operation of a transaction script.
type Statement struct {
	// Line is the statement's line number, from 1.
	Line  int
	Op    Op
	Key   string
	Value []byte
	// Revision is the condition of update and of del with a revision
	// (HasRevision).
	Revision    uint64
	HasRevision bool
}

// ParseScript reads a transaction script: one operation per line,
//
//	put KEY VALUE
//	create KEY VALUE
//	update KEY VALUE REVISION
//	del KEY [REVISION]
//	purge KEY
//
// Words are separated by spaces or tabs. A word may be written in double
// quotes with Go's escapes ("two words", "tab\there", "\x00", "" for an
// empty value) or in single quotes taken literally ('say "hi"'). Blank lines
// and lines whose first non-blank character is # are ignored; a # elsewhere
// is an ordinary character. Lines may end in \r\n. A key may appear once.
//
// ParseScript returns the statements in order, or a [*ScriptError] for the
// first bad line.
func ParseScript(r io.Reader) ([]Statement, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxScriptLine)
	var (
		stmts []Statement
		seen  = map[string]int{}
		line  int
	)
	for sc.Scan() {
		line++
		// bufio.ScanLines has dropped the line's \r\n or \n; a \r
		// before them is the value's.
		trimmed := strings.TrimLeft(sc.Text(), " \t")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		words, err := splitWords(trimmed)
		if err != nil {
			return nil, &ScriptError{Line: line, Msg: err.Error()}
		}
		st, err := statement(words)
		if err != nil {
			return nil, &ScriptError{Line: line, Msg: err.Error()}
		}
		if first, ok := seen[st.Key]; ok {
			return nil, &ScriptError{Line: line, Msg: fmt.Sprintf("key %q is already used on line %d (a transaction writes a key once)", st.Key, first)}
		}
		seen[st.Key] = line
		st.Line = line
		stmts = append(stmts, st)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ScriptError{Line: line + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxScriptLine)}
		}
		return nil, fmt.Errorf("kvtxn: reading transaction script: %w", err)
	}
	return stmts, nil
}

// usage lists the words each operation takes after its name.
var usage = map[Op]string{
	OpPut:    "put KEY VALUE",
	OpCreate: "create KEY VALUE",
	OpUpdate: "update KEY VALUE REVISION",
	OpDelete: "del KEY [REVISION]",
	OpPurge:  "purge KEY",
}

func statement(words []string) (Statement, error) {
	op := Op(words[0])
	use, ok := usage[op]
	if !ok {
		return Statement{}, fmt.Errorf("unknown operation %q (want put, create, update, del or purge)", words[0])
	}
	args := words[1:]
	want := strings.Count(use, " ")
	least := want - strings.Count(use, "[")
	if len(args) < least || len(args) > want {
		return Statement{}, fmt.Errorf("%s: want %s, got %d word(s) after %s", op, use, len(args), op)
	}
	st := Statement{Op: op, Key: args[0]}
	if !validKey(st.Key) {
		return Statement{}, fmt.Errorf("%s: invalid key %q", op, st.Key)
	}
	switch op {
	case OpPut, OpCreate, OpUpdate:
		st.Value = []byte(args[1])
	}
	var revWord string
	switch {
	case op == OpUpdate:
		revWord = args[2]
	case op == OpDelete && len(args) == 2:
		revWord = args[1]
	default:
		return st, nil
	}
	rev, err := strconv.ParseUint(revWord, 10, 64)
	if err != nil {
		return Statement{}, fmt.Errorf("%s: revision %q is not a number", op, revWord)
	}
	st.Revision, st.HasRevision = rev, true
	return st, nil
}

// splitWords splits a line into words, unquoting quoted ones.
func splitWords(s string) ([]string, error) {
	var words []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return words, nil
		}
		var (
			word string
			rest string
			err  error
		)
		switch s[0] {
		case '"':
			word, rest, err = doubleQuoted(s)
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			word, rest = s[1:1+end], s[2+end:]
		default:
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			word, rest = s[:end], s[end:]
			if strings.ContainsAny(word, `"'`) {
				return nil, fmt.Errorf("quote inside the word %q: quote the whole word", word)
			}
		}
		if err != nil {
			return nil, err
		}
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return nil, errors.New("a closing quote must be followed by a space or the end of the line")
		}
		words = append(words, word)
		s = rest
	}
}

// doubleQuoted unquotes the Go-style string at the start of s.
func doubleQuoted(s string) (word, rest string, err error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			word, err = strconv.Unquote(s[:i+1])
			if err != nil {
				return "", "", fmt.Errorf("bad escape in %s", s[:i+1])
			}
			return word, s[i+1:], nil
		}
	}
	return "", "", errors.New("unterminated double quote")
}

// FormatScript writes statements in the form ParseScript reads, values
// always double-quoted: ParseScript(FormatScript(s)) gives s back (line
// numbers aside).
func FormatScript(stmts []Statement) string {
	var b strings.Builder
	for _, st := range stmts {
		b.WriteString(string(st.Op) + " " + st.Key)
		switch st.Op {
		case OpPut, OpCreate, OpUpdate:
			b.WriteString(" " + strconv.Quote(string(st.Value)))
		}
		if st.HasRevision {
			b.WriteString(" " + strconv.FormatUint(st.Revision, 10))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Apply adds the statements to the transaction, in order.
func (t *Txn) Apply(stmts []Statement) error {
	for _, st := range stmts {
		var err error
		switch st.Op {
		case OpPut:
			err = t.Put(st.Key, st.Value)
		case OpCreate:
			err = t.Create(st.Key, st.Value)
		case OpUpdate:
			err = t.Update(st.Key, st.Value, st.Revision)
		case OpDelete:
			if st.HasRevision {
				err = t.DeleteAt(st.Key, st.Revision)
			} else {
				err = t.Delete(st.Key)
			}
		case OpPurge:
			err = t.Purge(st.Key)
		default:
			err = fmt.Errorf("kvtxn: unknown operation %q", st.Op)
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", st.Line, err)
		}
	}
	return nil
}
