package sitefeed

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/referralops/referralops/ingest/mapping"
)

// patient is a fake person: everything a real feed carries about the patient
// of a referral, none of it real. Fictional names, 555-01xx phone numbers
// (reserved for fiction), made-up streets.
type patient struct {
	mrn, family, given, sex, street, city, zip, phone string
	birth                                             time.Time
	// pcp is the patient's primary care provider (an NPI outside the
	// generator's referrer range, so never the referrer) and coordinator a
	// care coordinator without an NPI: the recipients of consult notes that
	// do not go to the referrer.
	pcp, coordinator string
}

// mrnAuthority names the MRN's assigning authority: HL7 CX-4, FHIR
// identifier.system. Both feeds name it the same way, so patient tokens agree.
const (
	mrnAuthority = "GENHOSP"
	mrnSystem    = "GENHOSP"
)

var (
	familyNames = [...]string{"QUILL", "MARROW", "TALLOW", "BRAMBLE", "FENWICK", "ASHGROVE", "LARKIN", "MOSSBY",
		"PEMBERLY", "THISTLE", "WICKET", "HOLLOWAY", "CRUMPET", "DANDERLY", "ELDERWOOD", "FOXGLOVE"}
	givenNames = [...]string{"ADA", "BARNABY", "CLEMENTINE", "DORIAN", "EUDORA", "FINNEGAN", "GWENDOLYN", "HORATIO",
		"IMOGEN", "JASPER", "KESTREL", "LEOPOLD", "MIRABEL", "NEVILLE", "OPHELIA", "PERCIVAL"}
	streets = [...]string{"Lantern Ln", "Quince St", "Harbor Bend", "Juniper Ct", "Old Mill Rd", "Sparrow Way",
		"Tinker Ave", "Willow Row"}
	cities = [...]struct{ name, zip string }{{"Brookfield", "60513"}, {"Oak Hollow", "60599"},
		{"Riverton", "60698"}, {"Millbrook", "60597"}}
)

// SiteToken is the patient_token the site's mapping gives the fake person of
// a generated token (the MRN the feeds send for it, hashed under key): a
// CloudEvents source beside the feeds must send it for the same patient.
func SiteToken(key []byte, generated string) string {
	return mapping.PatientToken(key, mrnAuthority, personOf(generated).mrn)
}

// patient derives the fake person of a referral from its patient token (the
// same patient for every referral of one simulated patient), else from the
// referral id.
func (fd *Feed) patient(subject string) patient {
	seed := subject
	if tok, ok := fd.patients[subject]; ok {
		seed = tok
	}
	return personOf(seed)
}

// personOf is the fake person seed stands for.
func personOf(seed string) patient {
	h := sha256.Sum256([]byte("sitefeed patient " + seed))
	u := func(i int) uint64 { return binary.BigEndian.Uint64(h[i*8:]) }
	c := cities[u(1)%uint64(len(cities))]
	sex := "F"
	if u(2)&1 == 1 {
		sex = "M"
	}
	return patient{
		mrn:         fmt.Sprintf("MRN%08d", u(0)%100_000_000),
		family:      familyNames[u(1)>>8%uint64(len(familyNames))],
		given:       givenNames[u(2)>>8%uint64(len(givenNames))],
		sex:         sex,
		street:      fmt.Sprintf("%d %s", 100+u(3)%9000, streets[u(3)>>16%uint64(len(streets))]),
		city:        c.name,
		zip:         c.zip,
		phone:       fmt.Sprintf("(312)555-01%02d", u(0)>>32%100),
		birth:       time.Date(1935+int(u(2)>>20%75), time.Month(1+u(2)>>28%12), 1+int(u(2)>>36%28), 0, 0, 0, 0, time.UTC),
		pcp:         fmt.Sprintf("19%08d", u(3)>>24%100_000_000),
		coordinator: fmt.Sprintf("CC-%05d", u(1)>>40%100_000),
	}
}
