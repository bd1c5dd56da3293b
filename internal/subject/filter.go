package subject

// Filters as the store and the JetStream API use them: a filter selects
// the stored messages whose subject it matches, and the empty filter
// selects every message (like ">"). These rules are the ones the server
// applies to subscriptions (Valid, Match), so a message the server
// accepts is one the store accepts, and a filter means the same thing
// in a subscription, a consumer and a purge.

// ValidFilter reports whether f is a usable stream filter: "" (every
// message) or a valid subscription subject (Valid).
func ValidFilter(f string) bool {
	return f == "" || Valid(f)
}

// MatchesAll reports whether filter selects every subject: "" or ">".
func MatchesAll(filter string) bool { return filter == "" || filter == ">" }

// IsLiteral reports whether filter selects exactly one subject: it is
// not empty and holds no wildcard token.
func IsLiteral(filter string) bool { return filter != "" && !HasWildcard(filter) }

// Matcher returns a function reporting whether a literal subject matches
// filter (a ValidFilter), with fast paths for filters that match
// everything and for literal filters. The function is safe for
// concurrent use.
func Matcher(filter string) func(subj string) bool {
	switch {
	case MatchesAll(filter):
		return func(string) bool { return true }
	case !HasWildcard(filter):
		return func(s string) bool { return s == filter }
	}
	return func(s string) bool { return Match(filter, s) }
}
