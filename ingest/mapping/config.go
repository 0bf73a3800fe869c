package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/hl7v2"
)

// KeyEnv is the environment variable that holds the patient token key.
const KeyEnv = "REFERRALOPS_PATIENT_TOKEN_KEY"

// minKeyBytes: the key must resist guessing; an MRN space is small.
const minKeyBytes = 32

// Config is a site's site.yaml.
type Config struct {
	// TimeZone is the IANA zone of HL7 times without an offset and FHIR
	// dates without a time.
	TimeZone string `yaml:"time_zone"`
	// Terminology maps the site's codes to the contract's values.
	Terminology Terminology `yaml:"terminology"`
	// Links are the HL7 v2 field paths that carry the referral id of
	// scheduling and note messages, tried in order; the first non-empty wins.
	Links Links `yaml:"links"`
}

// Terminology holds one table per concept, code → value. A key ending in "*"
// matches codes by prefix ("MG-*": every MG- organisation; the longest
// pattern wins); the key "*" alone is the value of any code the table lacks
// (a site default).
type Terminology struct {
	ServiceLine map[string]string `yaml:"service_line"` // ordered service, specialty, department → service_line
	// ReferrerTypeByProvider is the site's provider directory: the
	// referring provider's identifier as the message carries it (the NPI of
	// PRD-7 or ORC-12; the Practitioner's NPI or id in FHIR) → referrer_type.
	// Real sites type referrers per provider (their NUCC taxonomy); a
	// provider the directory lacks falls back to ReferrerType. No "*"
	// default here: that would hide the fallback.
	ReferrerTypeByProvider map[string]string `yaml:"referrer_type_by_provider"`
	ReferrerType           map[string]string `yaml:"referrer_type"` // organisation (or provider) → referrer_type, after the directory
	Network                map[string]string `yaml:"network"`       // organisation or provider → in/out
	Location               map[string]string `yaml:"location"`      // facility, department, organisation → location_id
	PayerClass             map[string]string `yaml:"payer_class"`   // plan, insurer or coverage type → payer_class
	Priority               map[string]string `yaml:"priority"`      // table 0280/0485 or FHIR request priority → priority
	// Recipient types a consult note's recipient the message does not
	// name as the referral's requester or the patient's PCP: provider role
	// code (table 0286 of a PRD, FHIR PractitionerRole.code), then the
	// provider's identifier → referrer, pcp or other. No entry: other.
	Recipient map[string]string `yaml:"recipient"`
}

// Links are HL7 v2 paths (hl7v2.ParsePath), e.g. "SCH-26.1".
type Links struct {
	Scheduling []string `yaml:"scheduling"` // SIU
	Note       []string `yaml:"note"`       // MDM, ORU
	// Visit and VisitAppointment link an ADT^A04 (registration) or A03
	// (discharge) to a referral and its appointment; without both the ADT
	// is not referral work.
	Visit            []string `yaml:"visit"`
	VisitAppointment []string `yaml:"visit_appointment"`
}

// LoadConfig reads a site.yaml; unknown keys are an error.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a site.yaml's text; unknown keys are an error.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return c, dec.Decode(&c)
}

// Marshal writes c as a site.yaml that LoadConfig reads back.
func (c Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// tables lists the terminology tables with their names and the contract
// field whose values they hold.
func (t *Terminology) tables() []table {
	return []table{
		{"service_line", "service_line", t.ServiceLine},
		{"referrer_type_by_provider", "referrer_type", t.ReferrerTypeByProvider},
		{"referrer_type", "referrer_type", t.ReferrerType},
		{"network", "referrer_network", t.Network},
		{"location", "location_id", t.Location},
		{"payer_class", "payer_class", t.PayerClass},
		{"priority", "priority", t.Priority},
		{"recipient", "recipient", t.Recipient},
	}
}

type table struct {
	name, field string
	codes       map[string]string
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.TimeZone == "" {
		errs = append(errs, errors.New("time_zone: required (an IANA zone such as America/Chicago)"))
	} else if _, err := time.LoadLocation(c.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("time_zone: %w", err))
	}
	for _, tb := range c.Terminology.tables() {
		codes := make([]string, 0, len(tb.codes))
		for code := range tb.codes {
			codes = append(codes, code)
		}
		sort.Strings(codes)
		for _, code := range codes {
			if err := validValue(tb.field, tb.codes[code]); err != nil {
				errs = append(errs, fmt.Errorf("terminology.%s[%q]: %w", tb.name, code, err))
			}
		}
	}
	if _, ok := c.Terminology.ReferrerTypeByProvider["*"]; ok {
		errs = append(errs, errors.New(`terminology.referrer_type_by_provider["*"]: no default here; a provider the directory lacks falls back to terminology.referrer_type`))
	}
	for _, l := range []struct {
		name  string
		paths []string
	}{{"scheduling", c.Links.Scheduling}, {"note", c.Links.Note}, {"visit", c.Links.Visit}, {"visit_appointment", c.Links.VisitAppointment}} {
		for _, p := range l.paths {
			if _, err := hl7v2.ParsePath(p); err != nil {
				errs = append(errs, fmt.Errorf("links.%s: %w", l.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// validValue checks a table value against the contract.
func validValue(field, v string) error {
	switch field {
	case "service_line":
		if !event.ValidServiceLineName(v) {
			return fmt.Errorf("%q is not a service line name (lowercase letters, digits and _)", v)
		}
	case "location_id":
		if !validIdent(v) {
			return fmt.Errorf("%q is not an identifier (1-128 of letters, digits and . _ - : /)", v)
		}
	default:
		set := event.EnumValues(field)
		if !slices.Contains(set, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(set, ", "))
		}
	}
	return nil
}

func validIdent(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-:/", c) >= 0) {
			return false
		}
	}
	return true
}

// KeyFromEnv returns the patient token key from KeyEnv: no key, no start.
func KeyFromEnv() ([]byte, error) {
	k := os.Getenv(KeyEnv)
	if k == "" {
		return nil, fmt.Errorf("%s is not set: patient tokens need a secret site key (an unkeyed hash of an MRN is reversible)", KeyEnv)
	}
	if len(k) < minKeyBytes {
		return nil, fmt.Errorf("%s must be at least %d bytes", KeyEnv, minKeyBytes)
	}
	return []byte(k), nil
}
