package mapping

import "slices"

// Whom a consult note went to (EVENTS.md recipient): the CMS50-style
// loop-closing KPI counts only notes to the referrer, so every format must
// tell the referrer from the patient's PCP and anyone else the same way.

// Recipient values of the contract, best first: a note copied to several
// providers closes the loop when any of them is the referrer.
var recipientRank = map[string]int{"referrer": 3, "pcp": 2, "other": 1}

// candidate is one provider a note was sent to, with what the message says
// about it.
type candidate struct {
	id        string   // the provider's identifier (NPI preferred)
	where     string   // the field it came from, for nothing but the table's keys
	requester bool     // the message names it as the referral's requester
	pcp       bool     // the message names it as the patient's primary care provider
	roles     []string // provider role codes (table 0286, PractitionerRole.code)
}

// Provider role codes of HL7 table 0286 (also used as PractitionerRole.code,
// system http://terminology.hl7.org/CodeSystem/v2-0286) that say it outright.
const (
	roleReferring   = "RP"
	rolePrimaryCare = "PP"
)

// recipientOf classifies a note's recipients: none → referrer (the
// contract's default); the requester (or role RP) → referrer; the PCP (or
// role PP) → pcp; else the
// site's recipient table by role code, then by provider id; else other.
// The best of several recipients wins.
func (m *Mapper) recipientOf(cs []candidate) string {
	if len(cs) == 0 {
		return "referrer"
	}
	best := ""
	for _, c := range cs {
		v := "other"
		switch {
		case c.requester || slices.Contains(c.roles, roleReferring):
			v = "referrer"
		case c.pcp || slices.Contains(c.roles, rolePrimaryCare):
			v = "pcp"
		default:
			keys := make([]key, 0, len(c.roles)+1)
			for _, r := range c.roles {
				keys = append(keys, key{r, "role", true})
			}
			keys = append(keys, key{c.id, c.where, false})
			if t, _ := lookup("recipient", m.cfg.Terminology.Recipient, false, keys...); t != "" {
				v = t
			}
		}
		if recipientRank[v] > recipientRank[best] {
			best = v
		}
	}
	return best
}
