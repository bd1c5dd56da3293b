package store

import "strings"

// A small private subject matcher. internal/subject is the project's
// full implementation; the store keeps its own few lines so that it has
// no dependency on the server side of the code base.

// validSubject reports whether s is a literal subject a message can be
// stored under: non-empty tokens separated by '.', no whitespace, and no
// token that is exactly "*" or ">".
func validSubject(s string) bool {
	if s == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 {
				return false
			}
			if c != '.' {
				continue
			}
		}
		tok := s[start:i]
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		start = i + 1
	}
	return true
}

// validFilter reports whether f is a usable filter: "" (everything), or
// non-empty tokens with "*" anywhere and ">" only as the last token.
func validFilter(f string) bool {
	if f == "" {
		return true
	}
	start := 0
	for i := 0; i <= len(f); i++ {
		if i < len(f) {
			c := f[i]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 {
				return false
			}
			if c != '.' {
				continue
			}
		}
		tok := f[start:i]
		if tok == "" || (tok == ">" && i != len(f)) {
			return false
		}
		start = i + 1
	}
	return true
}

// matchAll reports whether filter selects every subject.
func matchAll(filter string) bool { return filter == "" || filter == ">" }

// hasWildcard reports whether filter holds a "*" or ">" token.
func hasWildcard(filter string) bool {
	if matchAll(filter) {
		return true
	}
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		if c != '*' && c != '>' {
			continue
		}
		if (i == 0 || filter[i-1] == '.') && (i+1 == len(filter) || filter[i+1] == '.') {
			return true
		}
	}
	return false
}

// subjectMatches reports whether the literal subject matches filter.
func subjectMatches(filter, subject string) bool {
	if matchAll(filter) {
		return true
	}
	for {
		var ft, st string
		fi := strings.IndexByte(filter, '.')
		if fi < 0 {
			ft, filter = filter, ""
		} else {
			ft, filter = filter[:fi], filter[fi+1:]
		}
		si := strings.IndexByte(subject, '.')
		if si < 0 {
			st, subject = subject, ""
		} else {
			st, subject = subject[:si], subject[si+1:]
		}
		switch {
		case ft == ">":
			return st != ""
		case st == "":
			return false
		case ft != "*" && ft != st:
			return false
		}
		if fi < 0 || si < 0 {
			return fi < 0 && si < 0
		}
	}
}

// matcher returns a function reporting whether a subject matches filter,
// with fast paths for "everything" and literal filters.
func matcher(filter string) func(string) bool {
	switch {
	case matchAll(filter):
		return func(string) bool { return true }
	case !hasWildcard(filter):
		return func(s string) bool { return s == filter }
	}
	return func(s string) bool { return subjectMatches(filter, s) }
}
