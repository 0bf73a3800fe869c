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

// TestPatientOrderPrewhere: the recompute filters by token first (PREWHERE)
// only when its referrals are a small share of the rows, never on a cluster,
// whose Distributed table has no parts of its own to count.
func TestPatientOrderPrewhere(t *testing.T) {
	for _, c := range []struct {
		table patientReferrals
		n     int
		want  bool
	}{
		{patientReferrals{rows: 2_200_000}, 43_000, true},
		{patientReferrals{rows: 211_000}, 43_000, false},
		{patientReferrals{rows: 16}, 1, true},
		{patientReferrals{rows: 15}, 1, false},
		{patientReferrals{distributed: true}, 1, false},
	} {
		if got := c.table.prewhere(c.n); got != c.want {
			t.Errorf("%+v.prewhere(%d) = %v, want %v", c.table, c.n, got, c.want)
		}
	}
}

// TestPatientOrderAll: the recompute names no referral, recomputing every
// patient, when its referrals are half the rows or more; never on a cluster.
func TestPatientOrderAll(t *testing.T) {
	for _, c := range []struct {
		table patientReferrals
		n     int
		want  bool
	}{
		{patientReferrals{rows: 211_000}, 200_000, true},
		{patientReferrals{rows: 2_200_000}, 200_000, false},
		{patientReferrals{rows: 2}, 1, true},
		{patientReferrals{rows: 3}, 1, false},
		{patientReferrals{distributed: true}, 1, false},
	} {
		if got := c.table.all(c.n); got != c.want {
			t.Errorf("%+v.all(%d) = %v, want %v", c.table, c.n, got, c.want)
		}
	}
}
