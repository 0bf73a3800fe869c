package event

import (
	"slices"
	"testing"
)

// TestStandardReasons: the adapters' reasons are stable and distinct from
// Decode's, so together they are one closed set.
func TestStandardReasons(t *testing.T) {
	want := []Reason{"not_hl7v2", "not_fhir", "unmapped_code"}
	if got := StandardReasons(); !slices.Equal(got, want) {
		t.Errorf("StandardReasons() = %v", got)
	}
	for _, r := range StandardReasons() {
		if slices.Contains(Reasons(), r) {
			t.Errorf("%s is in both sets", r)
		}
	}
}

func TestEnumValues(t *testing.T) {
	if got := EnumValues("priority"); !slices.Equal(got, []string{"routine", "urgent", "stat"}) {
		t.Errorf("EnumValues(priority) = %v", got)
	}
	EnumValues("priority")[0] = "mutated"
	if EnumValues("priority")[0] != "routine" {
		t.Error("EnumValues shares its slice")
	}
	if EnumValues("service_line") != nil || EnumValues("subject") != nil {
		t.Error("EnumValues of a field that is not an enum is not nil")
	}
	if !ValidServiceLineName("sleep_medicine") || ValidServiceLineName("Sleep") {
		t.Error("ValidServiceLineName")
	}
}
