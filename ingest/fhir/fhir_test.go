package fhir

import (
	"errors"
	"strings"
	"testing"
)

const bundle = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"p1","name":[{"family":"Quixote"}],
   "identifier":[{"system":"urn:oid:1.2.3","value":"MRN0042","type":{"coding":[{"code":"MR"}]}}]}},
 {"resource":{"resourceType":"ServiceRequest","id":"sr1","meta":{"versionId":"3"},"status":"active","intent":"order",
   "category":[{"coding":[{"system":"http://snomed.info/sct","code":"3457005"}]}],
   "requester":{"reference":"https://ehr.example/fhir/Practitioner/pr1/_history/2"},"insurance":[{"reference":"Coverage/c1"}]}},
 {"resource":{"resourceType":"Coverage","id":"c1","type":{"coding":[{"code":"MCPOL"}]}}},
 {"resource":{"resourceType":"Encounter","id":"e1","type":[{"coding":[{"code":"AMB"}]}]}},
 {"request":{"method":"DELETE","url":"Task/t9"}}
]}`

func TestDecodeBundle(t *testing.T) {
	d, err := Decode([]byte(bundle))
	if err != nil {
		t.Fatal(err)
	}
	if d.BundleType != "transaction" || len(d.Entries) != 4 {
		t.Fatalf("bundle %s with %d entries", d.BundleType, len(d.Entries))
	}
	sr := d.Entries[1].Resource
	if typ, id := sr.Requester.Target(); typ != "Practitioner" || id != "pr1" {
		t.Errorf("requester target %s/%s", typ, id)
	}
	if sr.Meta.VersionID != "3" || sr.Category[0].Codes()[0] != "3457005" || sr.Insurance[0].Reference != "Coverage/c1" {
		t.Errorf("service request %+v", sr)
	}
	if c := d.Entries[2].Resource.Type; len(c) != 1 || c[0].Codes()[0] != "MCPOL" {
		t.Errorf("Coverage.type (an object) %+v", c)
	}
	if c := d.Entries[3].Resource.Type; len(c) != 1 || c[0].Codes()[0] != "AMB" {
		t.Errorf("Encounter.type (an array) %+v", c)
	}
	if p := d.Entries[0]; p.FullURL != "urn:uuid:1" || p.Resource.Identifier[0].Value != "MRN0042" {
		t.Errorf("patient entry %+v", p)
	}
}

func TestDecodeResource(t *testing.T) {
	d, err := Decode([]byte("\ufeff" + `{"resourceType":"Task","id":"t1","status":"accepted","focus":{"reference":"ServiceRequest/sr1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.BundleType != "" || len(d.Entries) != 1 || d.Entries[0].Resource.Status != "accepted" {
		t.Errorf("decoded %+v", d)
	}
	for ref, want := range map[string]string{"#c1": "/", "urn:uuid:9": "/", "": "/", "Task": "/", "Organization/o1": "Organization/o1"} {
		typ, id := Reference{Reference: ref}.Target()
		if typ+"/"+id != want {
			t.Errorf("Target(%q) = %s/%s", ref, typ, id)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":        "MSH|^~\\&|",
		"bad utf8":        "{\"resourceType\":\"Task\",\"id\":\"\xff\"}",
		"array":           `[{"resourceType":"Task"}]`,
		"no type":         `{"id":"x"}`,
		"wrong kind":      `{"resourceType":"Task","status":{"secret":"Quixote"}}`,
		"entry no type":   `{"resourceType":"Bundle","entry":[{"resource":{"id":"x"}}]}`,
		"nested bundle":   `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle"}}]}`,
		"bad type object": `{"resourceType":"Coverage","type":{"coding":"Quixote"}}`,
		"bad type array":  `{"resourceType":"Encounter","type":["Quixote"]}`,
	} {
		_, err := Decode([]byte(in))
		if !errors.Is(err, ErrNotFHIR) {
			t.Errorf("%s: err = %v, want ErrNotFHIR", name, err)
		} else if strings.Contains(err.Error(), "Quixote") {
			t.Errorf("%s: error quotes a value: %v", name, err)
		}
	}
}
