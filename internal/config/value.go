package config

import (
	"fmt"
	"strings"
	"time"
)

// token is what conf.ParseFileWithChecks wraps every value in: the value
// with the file and line it came from.
type token interface {
	Value() any
	Line() int
	SourceFile() string
	IsUsedVariable() bool
}

// value is one parsed value with its position. Maps and arrays keep
// their elements wrapped; each element is unwrapped on access.
type value struct {
	v    any
	file string
	line int
	used bool // the key was only a variable referred to elsewhere
}

// unwrap strips the token around x; a bare value takes at's position.
func unwrap(x any, at value) value {
	if t, ok := x.(token); ok {
		return value{v: t.Value(), file: t.SourceFile(), line: t.Line(), used: t.IsUsedVariable()}
	}
	return value{v: x, file: at.file, line: at.line}
}

// errorf is an error at v's position for key.
func (v value) errorf(key, format string, args ...any) error {
	return &Error{File: v.file, Line: v.line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// warnf is a warning at v's position for key.
func (v value) warnf(key, format string, args ...any) string {
	return (&Error{File: v.file, Line: v.line, Key: key, Msg: fmt.Sprintf(format, args...)}).Error()
}

// describe names a value in an error: strings quoted, others by type.
func describe(x any) string {
	switch x := x.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "a map"
	case []any:
		return "an array"
	case bool, int64, float64:
		return fmt.Sprintf("%v", x)
	default:
		return fmt.Sprintf("%T", x)
	}
}

func (v value) str(key string) (string, error) {
	s, ok := v.v.(string)
	if !ok {
		return "", v.errorf(key, "expected a string, got %s", describe(v.v))
	}
	return s, nil
}

func (v value) boolean(key string) (bool, error) {
	b, ok := v.v.(bool)
	if !ok {
		return false, v.errorf(key, "expected true or false, got %s", describe(v.v))
	}
	return b, nil
}

func (v value) integer(key string) (int64, error) {
	n, ok := v.v.(int64)
	if !ok {
		return 0, v.errorf(key, "expected an integer, got %s", describe(v.v))
	}
	return n, nil
}

// size is an integer, possibly with a suffix the lexer already applied
// (1k, 1MB, 1Gi).
func (v value) size(key string, max int64) (int64, error) {
	n, ok := v.v.(int64)
	if !ok {
		return 0, v.errorf(key, "expected a size, got %s", describe(v.v))
	}
	if n < 0 || n > max {
		return 0, v.errorf(key, "size %d out of range 0..%d", n, max)
	}
	return n, nil
}

// storageSize is a JetStream store limit: an integer (suffixes applied by
// the lexer), or a string "<n>K|M|G|T" in powers of 1024 as nats-server's
// getStorageSize reads it; -1 is no limit.
func (v value) storageSize(key string) (int64, error) {
	switch x := v.v.(type) {
	case int64:
		if x < -1 {
			return 0, v.errorf(key, "expected a size or -1, got %d", x)
		}
		return x, nil
	case string:
		if x == "" {
			return 0, nil
		}
		var n int64
		var unit string
		if _, err := fmt.Sscanf(x, "%d%s", &n, &unit); err == nil && n >= 0 && len(unit) == 1 {
			if shift, ok := map[string]uint{"K": 10, "M": 20, "G": 30, "T": 40}[unit]; ok && n <= 1<<(62-shift) {
				return n << shift, nil
			}
		}
		return 0, v.errorf(key, "expected a size such as 1G, got %q", x)
	}
	return 0, v.errorf(key, "expected a size, got %s", describe(v.v))
}

// duration is a Go duration string ("2m", "500ms"); a bare integer is
// seconds, as nats-server still accepts (it warns; so do we).
func (v value) duration(key string, warn func(string)) (time.Duration, error) {
	switch x := v.v.(type) {
	case string:
		d, err := time.ParseDuration(x)
		if err != nil || d < 0 {
			return 0, v.errorf(key, "expected a duration such as 2m, got %q", x)
		}
		return d, nil
	case int64:
		if x < 0 || x > int64(24*365*time.Hour/time.Second) {
			return 0, v.errorf(key, "duration %d seconds out of range", x)
		}
		warn(v.warnf(key, "a bare number is seconds; write a duration such as \"%ds\"", x))
		return time.Duration(x) * time.Second, nil
	}
	return 0, v.errorf(key, "expected a duration such as 2m, got %s", describe(v.v))
}

// seconds is a timeout in seconds (integer or float), nats-server's
// unit for authorization and tls timeouts; a duration string is accepted
// too.
func (v value) seconds(key string) (time.Duration, error) {
	var d time.Duration
	switch x := v.v.(type) {
	case int64:
		d = time.Duration(x) * time.Second
	case float64:
		d = time.Duration(x * float64(time.Second))
	case string:
		var err error
		if d, err = time.ParseDuration(x); err != nil {
			return 0, v.errorf(key, "expected seconds or a duration, got %q", x)
		}
	default:
		return 0, v.errorf(key, "expected seconds or a duration, got %s", describe(v.v))
	}
	if d < 0 || d > 24*time.Hour {
		return 0, v.errorf(key, "timeout %v out of range", d)
	}
	return d, nil
}

// mapping is a map value; keys are lower-cased as nats-server does.
func (v value) mapping(key string) (map[string]value, error) {
	return v.mapOf(key, strings.ToLower)
}

// names is a map whose keys are names (accounts), kept as written.
func (v value) names(key string) (map[string]value, error) {
	return v.mapOf(key, func(s string) string { return s })
}

func (v value) mapOf(key string, fold func(string) string) (map[string]value, error) {
	m, ok := v.v.(map[string]any)
	if !ok {
		return nil, v.errorf(key, "expected a map, got %s", describe(v.v))
	}
	out := make(map[string]value, len(m))
	for k, x := range m {
		e := unwrap(x, v)
		if e.used {
			continue // a variable, referred to elsewhere: not a key
		}
		if prev, dup := out[fold(k)]; dup {
			at := max(prev.line, e.line)
			return nil, value{file: e.file, line: at}.errorf(fold(k), "given twice, in different case")
		}
		out[fold(k)] = e
	}
	return out, nil
}

// list is an array value, or a single value taken as a list of one.
func (v value) list() []value {
	a, ok := v.v.([]any)
	if !ok {
		return []value{v}
	}
	out := make([]value, len(a))
	for i, x := range a {
		out[i] = unwrap(x, v)
	}
	return out
}

// strings is a string or an array of strings.
func (v value) strings(key string) ([]string, error) {
	var out []string
	for _, e := range v.list() {
		s, err := e.str(key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// enabled reads a switch written as a boolean or as "enabled"/"enable"
// or "disabled"/"disable" (any case), as nats-server's jetstream keys
// take it. ok is false when v is neither (a map, say), for the caller
// to read otherwise.
func (v value) enabled(k string) (on, ok bool, err error) {
	switch x := v.v.(type) {
	case bool:
		return x, true, nil
	case string:
		switch strings.ToLower(x) {
		case "enabled", "enable":
			return true, true, nil
		case "disabled", "disable":
			return false, true, nil
		}
		return false, true, v.errorf(k, "expected 'enabled' or 'disabled', got %q", x)
	}
	return false, false, nil
}
