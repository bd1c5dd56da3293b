// Package subject validates NATS subjects, KV keys and bucket names, and
// matches subjects against subscription interest.
//
// A subject is a sequence of tokens separated by '.', for example
// "$KV.orders.eu.123". A subscription may use two wildcards: '*' matches
// exactly one token and '>' (only as the last token) matches one or more
// tokens. "orders.*.123" matches "orders.eu.123" but not "orders.eu.x.123";
// "orders.>" matches both, but not "orders" itself.
//
// The Index type stores subscriptions in a trie with one level per token,
// so a match walks at most three branches per level (the literal token,
// '*' and '>') however many subscriptions there are. Results of recent
// matches are cached; an insert or removal evicts only the cached subjects
// the changed subscription could match.
//
// Example:
//
//	idx := subject.NewIndex[string]()
//	idx.Insert("orders.*", "", "a")
//	idx.Insert("orders.>", "workers", "b")
//	r := idx.Match("orders.new")
//	// r.Plain == ["a"], r.Groups == [["b"]]
package subject
