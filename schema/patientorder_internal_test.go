package schema

import "testing"

// TestReferralArray: the ids of a recompute are one string literal split on
// the server, or, should an id hold the separator, an array of literals.
func TestReferralArray(t *testing.T) {
	for _, c := range []struct {
		ids  []string
		want string
	}{
		{nil, ""},
		{[]string{"R-1"}, `splitByChar(',', 'R-1')`},
		{[]string{"R-1", "urn:uuid:0a", "x'y"}, `splitByChar(',', 'R-1,urn:uuid:0a,x\'y')`},
		{[]string{"R-1", "R,2"}, `['R-1', 'R,2']`},
	} {
		if got := referralArray(c.ids); got != c.want {
			t.Errorf("referralArray(%q) = %s, want %s", c.ids, got, c.want)
		}
	}
}
