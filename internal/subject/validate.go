package subject

import "strings"

// Validity rules follow the NATS naming rules (ADR-6) as nats-server
// applies them: a subject is one or more non-empty tokens separated by
// '.', with no white space or control characters. '*' and '>' are
// wildcards only when they are a whole token.

// ValidLiteral reports whether s is a valid subject to publish to: a
// valid subject without wildcard tokens.
func ValidLiteral(s string) bool {
	return validate(s, false)
}

// Valid reports whether s is a valid subscription subject: wildcard
// tokens are allowed, and '>' only as the last token.
func Valid(s string) bool {
	return validate(s, true)
}

func validate(s string, wildcards bool) bool {
	if s == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0x7f || c < 0x20 {
				return false
			}
			if c != '.' {
				continue
			}
		}
		token := s[start:i]
		switch {
		case token == "":
			return false
		case token == "*":
			if !wildcards {
				return false
			}
		case token == ">":
			if !wildcards || i != len(s) {
				return false
			}
		}
		start = i + 1
	}
	return true
}

// HasWildcard reports whether s contains a '*' or '>' token.
func HasWildcard(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		if t := s[start:i]; t == "*" || t == ">" {
			return true
		}
		start = i + 1
	}
	return false
}

// ValidBucket reports whether name is a valid KV bucket name: letters,
// digits, '_' and '-' only.
func ValidBucket(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidKey reports whether key is a valid KV key: letters, digits and
// "-/_=." with no empty token (no leading, trailing or doubled '.').
func ValidKey(key string) bool {
	return validKey(key, false)
}

// ValidKeyFilter reports whether filter is a valid key pattern for watch
// and key listing: a valid key in which '*' may appear and which may end
// in '>'.
func ValidKeyFilter(filter string) bool {
	return validKey(filter, true)
}

func validKey(key string, pattern bool) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case isAlnum(c), c == '-', c == '/', c == '_', c == '=', c == '.':
		case pattern && c == '*':
		case pattern && c == '>' && i == len(key)-1:
		default:
			return false
		}
	}
	return true
}

// ValidStreamName reports whether name can name a stream: non-empty, at
// most 255 bytes, and free of white space, '.', '*', '>' and path
// separators (stream names become parts of API subjects and file names).
func ValidStreamName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c <= ' ', c == 0x7f, c == '.', c == '*', c == '>', c == '/', c == '\\':
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
