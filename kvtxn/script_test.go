package kvtxn_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/kvtxn"
)

func TestParseScript(t *testing.T) {
	good := []struct {
		name, in string
		want     string // FormatScript of the result
	}{
		{"all operations", "put a 1\ncreate b 2\nupdate c 3 7\ndel d\ndel e 9\npurge f\n",
			"put a \"1\"\ncreate b \"2\"\nupdate c \"3\" 7\ndel d\ndel e 9\npurge f\n"},
		{"comments and blank lines", "# transfer\n\n  # indented comment\nput a #not-a-comment\n\t\n",
			"put a \"#not-a-comment\"\n"},
		{"quoted values", `put a "two words"` + "\n" + `put b 'say "hi"'` + "\n" + `put c "tab\there\x00"` + "\n" + `put d ""`,
			"put a \"two words\"\nput b \"say \\\"hi\\\"\"\nput c \"tab\\there\\x00\"\nput d \"\"\n"},
		{"spaces and CRLF", "  put\ta   v  \r\nupdate  b \"x y\"  12\r\n", "put a \"v\"\nupdate b \"x y\" 12\n"},
		{"unicode", "put k \"héllo ✓\"\n", "put k \"héllo ✓\"\n"},
		// Only the line ending is dropped: a value's own \r stays.
		{"CR ending a bare value", "put k v\r\r\nput j w\r\r", "put k \"v\\r\"\nput j \"w\\r\"\n"},
		{"empty", "# nothing\n\n", ""},
		{"quoted key", `put "a.b" v`, "put a.b \"v\"\n"},
	}
	for _, c := range good {
		stmts, err := kvtxn.ParseScript(strings.NewReader(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := kvtxn.FormatScript(stmts); got != c.want {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, got, c.want)
		}
	}

	bad := []struct{ in, line, msg string }{
		{"put a 1\nfrob a", "line 2", `unknown operation "frob"`},
		{"put a", "line 1", "put: want put KEY VALUE, got 1 word(s)"},
		{"put a b c", "line 1", "got 3 word(s)"},
		{"update a v", "line 1", "want update KEY VALUE REVISION"},
		{"update a v x", "line 1", `revision "x" is not a number`},
		{"update a v -1", "line 1", `revision "-1" is not a number`},
		{"del a 1 2", "line 1", "want del KEY [REVISION]"},
		{"put a.. v", "line 1", "invalid key"},
		{"put a* v", "line 1", "invalid key"},
		{"put a \"open", "line 1", "unterminated double quote"},
		{"put a 'open", "line 1", "unterminated single quote"},
		{`put a "x"y`, "line 1", "closing quote must be followed"},
		{`put a x"y"`, "line 1", "quote inside the word"},
		{`put a "\q"`, "line 1", "bad escape"},
		{"put a 1\n\nput a 2", "line 3", `key "a" is already used on line 1`},
		{"PUT a 1", "line 1", "unknown operation"},
	}
	for _, c := range bad {
		_, err := kvtxn.ParseScript(strings.NewReader(c.in))
		var se *kvtxn.ScriptError
		if !errors.As(err, &se) || !errors.Is(err, kvtxn.ErrScript) {
			t.Errorf("%q: error %v, want a ScriptError", c.in, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.line+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %q, want %s: …%s…", c.in, err, c.line, c.msg)
		}
	}

	long := "put a " + strings.Repeat("x", kvtxn.MaxScriptLine+1)
	if _, err := kvtxn.ParseScript(strings.NewReader(long)); !errors.Is(err, kvtxn.ErrScript) || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("overlong line: %v", err)
	}
}

// FuzzParseScript: ParseScript never panics, and whatever it accepts
// survives FormatScript and a second parse unchanged.
func FuzzParseScript(f *testing.F) {
	for _, s := range []string{
		"put a 1\ncreate b 2\nupdate c 3 7\ndel d\ndel e 9\npurge f\n",
		"# c\n\nput a \"two words\"\nput b 'x \"y\"'\r\n",
		`put c "tab\there\x00\u00e9"`,
		"update a v 18446744073709551615",
		"del a 18446744073709551616",
		"put a \"open",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		stmts, err := kvtxn.ParseScript(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, kvtxn.ErrScript) {
				t.Fatalf("error %v does not wrap ErrScript", err)
			}
			return
		}
		again, err := kvtxn.ParseScript(strings.NewReader(kvtxn.FormatScript(stmts)))
		if err != nil {
			t.Fatalf("formatted script does not parse: %v\n%s", err, kvtxn.FormatScript(stmts))
		}
		if len(again) != len(stmts) {
			t.Fatalf("%d statements, then %d", len(stmts), len(again))
		}
		for i := range stmts {
			a, b := stmts[i], again[i]
			a.Line, b.Line = 0, 0
			if len(a.Value) == 0 {
				a.Value = nil
			}
			if len(b.Value) == 0 {
				b.Value = nil
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("statement %d: %+v, then %+v", i, a, b)
			}
		}
	})
}
