package subject

// Match reports whether the literal subject subj matches pattern, which
// may contain '*' and '>' tokens. Both are assumed valid.
func Match(pattern, subj string) bool {
	for {
		pt, prest, pmore := cut(pattern)
		if pt == ">" {
			return subj != ""
		}
		if subj == "" {
			return false
		}
		st, srest, smore := cut(subj)
		if pt != "*" && pt != st {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subj = prest, srest
	}
}

// Overlap reports whether some literal subject matches both patterns.
func Overlap(a, b string) bool {
	for {
		at, arest, amore := cut(a)
		bt, brest, bmore := cut(b)
		if at == ">" || bt == ">" {
			return true
		}
		if at != "*" && bt != "*" && at != bt {
			return false
		}
		if !amore || !bmore {
			return amore == bmore
		}
		a, b = arest, brest
	}
}

// SubsetOf reports whether every subject matched by pattern a is also
// matched by pattern b.
func SubsetOf(a, b string) bool {
	for {
		at, arest, amore := cut(a)
		bt, brest, bmore := cut(b)
		if bt == ">" {
			return true
		}
		if at == ">" {
			return false
		}
		if bt != "*" && at != bt {
			return false
		}
		if !amore || !bmore {
			return amore == bmore
		}
		a, b = arest, brest
	}
}

// Tokens splits s into its '.'-separated tokens.
func Tokens(s string) []string {
	var out []string
	for {
		t, rest, more := cut(s)
		out = append(out, t)
		if !more {
			return out
		}
		s = rest
	}
}

// cut returns the first token of s, the rest after the '.', and whether
// there was a rest.
func cut(s string) (token, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
