package store

import "github.com/cairn-db/cairn/internal/subject"

// The store's subject rules are internal/subject's, the ones the server
// applies to every PUB and SUB: a message the server accepts is one the
// store accepts, and a filter selects the same subjects in a
// subscription, a consumer and a purge. The names below only say what
// each use means to the store.

// validSubject reports whether s is a literal subject a message can be
// stored under.
func validSubject(s string) bool { return subject.ValidLiteral(s) }

// validFilter reports whether f is a usable filter: "" (everything) or
// a valid subscription subject.
func validFilter(f string) bool { return subject.ValidFilter(f) }

// matchAll reports whether filter selects every subject ("" or ">").
func matchAll(filter string) bool { return subject.MatchesAll(filter) }

// hasWildcard reports whether filter may select more than one subject:
// it is "" or holds a "*" or ">" token.
func hasWildcard(filter string) bool { return !subject.IsLiteral(filter) }

// matcher returns a function reporting whether a subject matches filter.
// It is a variable so that tests can count the subjects a lookup tests.
var matcher = subject.Matcher

// matcherAny returns a function reporting whether a subject matches any
// of several filters, testing it once whatever their number. It is a
// variable so that tests can count the subjects a capture tests.
var matcherAny = subject.MatcherAny
