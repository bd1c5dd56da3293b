package jsapi

import (
	"errors"
	"strconv"
	"strings"

	"github.com/cairn-db/cairn/internal/subject"
)

// mapping rewrites subjects matching a source filter into a destination,
// as used by stream republish. Destination tokens are literals, '*' (the
// next source wildcard, in order), a final '>' (the source's '>' tail),
// or a reference to the n-th source wildcard written "{{wildcard(n)}}"
// or "$n". nats-server's other mapping functions (partition, split, ...)
// are not supported and are refused when the stream is configured.
type mapping struct {
	source string
	dest   []destToken
}

// destToken is one destination token: a literal, or the index (1-based)
// of a source '*' wildcard, or the '>' tail when tail is set.
type destToken struct {
	literal  string
	wildcard int
	tail     bool
}

var errBadMapping = errors.New("jsapi: invalid subject mapping")

// destPattern returns the subjects a destination can map to, as a
// filter: each token naming a source wildcard ("{{wildcard(n)}}", "$n")
// becomes '*'. Loop checks compare it with stream subjects; compared as
// it is written, "{{wildcard(1)}}.x" would miss the stream on "b.x" that
// it maps b.x back onto.
func destPattern(dest string) string {
	toks := subject.Tokens(dest)
	for i, t := range toks {
		if strings.HasPrefix(t, "$") || strings.HasPrefix(t, "{{") {
			toks[i] = "*"
		}
	}
	return strings.Join(toks, ".")
}

// newMapping checks and compiles a source → destination mapping.
func newMapping(source, dest string) (*mapping, error) {
	if !subject.Valid(source) || dest == "" {
		return nil, errBadMapping
	}
	srcTokens := subject.Tokens(source)
	stars, srcTail := 0, false
	for _, t := range srcTokens {
		switch t {
		case "*":
			stars++
		case ">":
			srcTail = true
		}
	}
	m := &mapping{source: source}
	next := 0
	for i, t := range subject.Tokens(dest) {
		d, err := parseDestToken(t, i == len(subject.Tokens(dest))-1, stars, srcTail, &next)
		if err != nil {
			return nil, err
		}
		m.dest = append(m.dest, d)
	}
	return m, nil
}

func parseDestToken(t string, last bool, stars int, srcTail bool, next *int) (destToken, error) {
	switch {
	case t == "":
		return destToken{}, errBadMapping
	case t == "*":
		*next++
		if *next > stars {
			return destToken{}, errBadMapping
		}
		return destToken{wildcard: *next}, nil
	case t == ">":
		if !last || !srcTail {
			return destToken{}, errBadMapping
		}
		return destToken{tail: true}, nil
	case strings.HasPrefix(t, "$"):
		return wildcardRef(t[1:], stars)
	case strings.HasPrefix(t, "{{") && strings.HasSuffix(t, "}}"):
		fn := strings.ReplaceAll(t[2:len(t)-2], " ", "")
		if !strings.HasPrefix(fn, "wildcard(") || !strings.HasSuffix(fn, ")") {
			return destToken{}, errBadMapping
		}
		return wildcardRef(fn[len("wildcard("):len(fn)-1], stars)
	case strings.ContainsAny(t, "{}"):
		return destToken{}, errBadMapping
	}
	return destToken{literal: t}, nil
}

func wildcardRef(n string, stars int) (destToken, error) {
	i, err := strconv.Atoi(n)
	if err != nil || i < 1 || i > stars {
		return destToken{}, errBadMapping
	}
	return destToken{wildcard: i}, nil
}

// apply maps subj, or reports false when subj does not match the source.
func (m *mapping) apply(subj string) (string, bool) {
	if !subject.Match(m.source, subj) {
		return "", false
	}
	var stars []string
	var tail string
	src := subject.Tokens(m.source)
	toks := subject.Tokens(subj)
	for i, t := range src {
		switch t {
		case "*":
			stars = append(stars, toks[i])
		case ">":
			tail = strings.Join(toks[i:], ".")
		}
	}
	var b strings.Builder
	for i, d := range m.dest {
		if i > 0 {
			b.WriteByte('.')
		}
		switch {
		case d.tail:
			b.WriteString(tail)
		case d.wildcard > 0:
			b.WriteString(stars[d.wildcard-1])
		default:
			b.WriteString(d.literal)
		}
	}
	return b.String(), true
}
