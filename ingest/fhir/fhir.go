package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrNotFHIR is wrapped by every error Decode returns.
var ErrNotFHIR = errors.New("not a FHIR R4 JSON resource")

// Resource holds the elements of the resources the mapping reads, as one
// struct: an element a resource type does not have stays zero.
type Resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		VersionID   string `json:"versionId"`
		LastUpdated string `json:"lastUpdated"`
		Source      string `json:"source"`
	} `json:"meta"`
	Status   string `json:"status"`
	Intent   string `json:"intent"`
	Priority string `json:"priority"`

	Identifier []Identifier       `json:"identifier"` // Patient: the MRN (token input only)
	Category   []CodeableConcept  `json:"category"`   // ServiceRequest, Communication
	Code       CodeableConcept    `json:"-"`          // ServiceRequest: the ordered service; filled from "code" as an object
	RoleCode   []CodeableConcept  `json:"-"`          // PractitionerRole: the roles; filled from "code" as an array
	RawCode    json.RawMessage    `json:"code"`       // an object (ServiceRequest) or an array (PractitionerRole)
	Type       []CodeableConcept  `json:"-"`          // filled from "type", which is an array or an object
	RawType    json.RawMessage    `json:"type"`       // Coverage.type (object), Encounter.type (array)
	Subject    Reference          `json:"subject"`
	Patient    Reference          `json:"patient"` // Claim, ClaimResponse
	Requester  Reference          `json:"requester"`
	Performer  []Reference        `json:"performer"`
	PerfType   CodeableConcept    `json:"performerType"`
	Location   []Reference        `json:"locationReference"`
	Insurance  []InsuranceElement `json:"insurance"`
	AuthoredOn string             `json:"authoredOn"`

	Focus          Reference       `json:"focus"` // Task
	BusinessStatus CodeableConcept `json:"businessStatus"`
	LastModified   string          `json:"lastModified"`

	BasedOn     []Reference       `json:"basedOn"` // Appointment, Encounter, Communication
	Start       string            `json:"start"`   // Appointment
	End         string            `json:"end"`
	Created     string            `json:"created"` // Appointment, Claim, ClaimResponse
	ServiceType []CodeableConcept `json:"serviceType"`
	Participant []struct {
		Actor Reference `json:"actor"`
	} `json:"participant"`
	AppointmentType CodeableConcept `json:"appointmentType"`

	Period struct { // Encounter
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
	Appointment []Reference `json:"appointment"`

	Recipient []Reference `json:"recipient"` // Communication
	Sent      string      `json:"sent"`

	Use          string      `json:"use"`          // Claim
	Referral     Reference   `json:"referral"`     // Claim
	Payor        []Reference `json:"payor"`        // Coverage
	Organization Reference   `json:"organization"` // PractitionerRole
	Practitioner Reference   `json:"practitioner"` // PractitionerRole
	Request      Reference   `json:"request"`      // ClaimResponse
	Outcome      string      `json:"outcome"`
	Extension    []Extension `json:"extension"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	System string          `json:"system"`
	Value  string          `json:"value"`
	Type   CodeableConcept `json:"type"`
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference  string     `json:"reference"`
	Identifier Identifier `json:"identifier"`
}

// InsuranceElement is ServiceRequest.insurance (a Reference) or
// Claim.insurance (a BackboneElement with coverage); both decode here.
type InsuranceElement struct {
	Reference string    `json:"reference"`
	Coverage  Reference `json:"coverage"`
}

// CodeableConcept is a FHIR CodeableConcept without its text (free text).
type CodeableConcept struct {
	Coding []Coding `json:"coding"`
}

// Coding is a FHIR Coding without its display.
type Coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

// Extension is a FHIR extension with the coded values the mapping reads.
type Extension struct {
	URL                  string          `json:"url"`
	ValueCode            string          `json:"valueCode"`
	ValueCodeableConcept CodeableConcept `json:"valueCodeableConcept"`
	ValueCoding          Coding          `json:"valueCoding"`
}

// Codes returns the codes of every coding, in order.
func (c CodeableConcept) Codes() []string {
	out := make([]string, 0, len(c.Coding))
	for _, cd := range c.Coding {
		if cd.Code != "" {
			out = append(out, cd.Code)
		}
	}
	return out
}

// Target returns the type and id of a literal reference ("Type/id", an
// absolute URL ending so, with or without /_history/n); "" for a contained
// (#id), urn:uuid or empty reference.
func (r Reference) Target() (typ, id string) {
	s := r.Reference
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "urn:") {
		return "", ""
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// Entry is one resource of a decoded message, with the bundle's fullUrl.
type Entry struct {
	FullURL  string
	Resource *Resource
}

// Decoded is a decoded message: its resources (one for a plain resource) and
// the bundle type ("" for a plain resource).
type Decoded struct {
	BundleType string
	Entries    []Entry
}

// Decode decodes one resource or a Bundle. Bundle entries without a resource
// (a transaction's DELETE) are left out; nested Bundles are refused.
func Decode(b []byte) (*Decoded, error) {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	if !utf8.Valid(b) || !json.Valid(b) {
		return nil, fmt.Errorf("%w: not valid UTF-8 JSON", ErrNotFHIR)
	}
	var head struct {
		ResourceType string          `json:"resourceType"`
		Type         json.RawMessage `json:"type"` // a string in a Bundle; other resources have other types
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFHIR, jsonProblem(err))
	}
	if head.ResourceType == "" {
		return nil, fmt.Errorf("%w: no resourceType", ErrNotFHIR)
	}
	if head.ResourceType != "Bundle" {
		r, err := decodeResource(b)
		if err != nil {
			return nil, err
		}
		return &Decoded{Entries: []Entry{{Resource: r}}}, nil
	}
	d := &Decoded{}
	if len(head.Type) > 0 && json.Unmarshal(head.Type, &d.BundleType) != nil {
		return nil, fmt.Errorf("%w: Bundle.type is not a string", ErrNotFHIR)
	}
	for i, e := range head.Entry {
		if len(e.Resource) == 0 || string(e.Resource) == "null" {
			continue
		}
		r, err := decodeResource(e.Resource)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if r.ResourceType == "Bundle" {
			return nil, fmt.Errorf("%w: entry %d: a Bundle inside a Bundle", ErrNotFHIR, i)
		}
		d.Entries = append(d.Entries, Entry{FullURL: e.FullURL, Resource: r})
	}
	return d, nil
}

func decodeResource(b []byte) (*Resource, error) {
	r := &Resource{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFHIR, jsonProblem(err))
	}
	if r.ResourceType == "" {
		return nil, fmt.Errorf("%w: no resourceType", ErrNotFHIR)
	}
	switch t := bytes.TrimSpace(r.RawType); {
	case len(t) == 0 || string(t) == "null":
	case t[0] == '[':
		if err := json.Unmarshal(t, &r.Type); err != nil {
			return nil, fmt.Errorf("%w: %s.type: %s", ErrNotFHIR, r.ResourceType, jsonProblem(err))
		}
	case t[0] == '{':
		var c CodeableConcept
		if err := json.Unmarshal(t, &c); err != nil {
			return nil, fmt.Errorf("%w: %s.type: %s", ErrNotFHIR, r.ResourceType, jsonProblem(err))
		}
		r.Type = []CodeableConcept{c}
	}
	r.RawType = nil
	switch t := bytes.TrimSpace(r.RawCode); {
	case len(t) == 0 || string(t) == "null":
	case t[0] == '[':
		if err := json.Unmarshal(t, &r.RoleCode); err != nil {
			return nil, fmt.Errorf("%w: %s.code: %s", ErrNotFHIR, r.ResourceType, jsonProblem(err))
		}
	default:
		if err := json.Unmarshal(t, &r.Code); err != nil {
			return nil, fmt.Errorf("%w: %s.code: %s", ErrNotFHIR, r.ResourceType, jsonProblem(err))
		}
	}
	r.RawCode = nil
	return r, nil
}

// jsonProblem describes a decoding error without the JSON text it may quote.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("element %s is a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return "malformed JSON"
}
