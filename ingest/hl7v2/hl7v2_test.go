package hl7v2

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const ref = "MSH|^~\\&|REFAPP|NORTHCLINIC|RCVAPP|GENHOSP|20260302140500||REF^I12^REF_I12|CTRL-1|P|2.5.1\r" +
	"PID|1||MRN0042^^^NORTHCLINIC^MR~SSN-999-11-2222^^^SSA^SS||Quixote^Alonso||19470312\r" +
	"RF1|P^Pending|R^Routine|CARD^Cardiology||O|REF-77^NORTHCLINIC|20260302\r" +
	"ZNT|a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\X4142\\\r"

func TestParseFieldsComponentsEscapes(t *testing.T) {
	m, err := Parse([]byte(ref))
	if err != nil {
		t.Fatal(err)
	}
	if code, trig := m.Type(); code != "REF" || trig != "I12" || m.Version() != "2.5.1" {
		t.Errorf("Type() = %s %s, Version() = %s", code, trig, m.Version())
	}
	msh, _ := m.Segment("MSH")
	if msh.Field(1).Raw() != "|" || msh.Field(2).Raw() != `^~\&` || msh.Field(10).String() != "CTRL-1" {
		t.Errorf("MSH-1 %q MSH-2 %q MSH-10 %q", msh.Field(1).Raw(), msh.Field(2).Raw(), msh.Field(10).String())
	}
	pid, _ := m.Segment("PID")
	reps := pid.Field(3).Repetitions()
	if len(reps) != 2 || reps[1].Component(5).String() != "SS" || reps[0].Component(4).Subcomponent(1).String() != "NORTHCLINIC" {
		t.Errorf("PID-3 repetitions %+v", reps)
	}
	for path, want := range map[string]string{
		"RF1-6.1": "REF-77", "RF1-3.2": "Cardiology", "PID-3[2].1": "SSN-999-11-2222", "RF1-99": "",
		"ZNT-1": "a|b^c&d~e\\f\ng" + "AB", "RF1-6.2.1": "NORTHCLINIC", "PID-3[3].1": "",
	} {
		p, err := ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Get(p); got != want {
			t.Errorf("Get(%s) = %q, want %q", path, got, want)
		}
		if p.String() != path {
			t.Errorf("Path %s formats as %s", path, p)
		}
	}
}

func TestParseOtherDelimitersAndLineEnds(t *testing.T) {
	for name, msg := range map[string]string{
		"lf":   "MSH#*@!$#A#F#B#C#20260302##SIU*S12#1#P#2.3\nSCH#x*y@z$w\n",
		"crlf": "MSH#*@!$#A#F#B#C#20260302##SIU*S12#1#P#2.3\r\nSCH#x*y@z$w\r\n\r\n",
	} {
		m, err := Parse([]byte(msg))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sch, _ := m.Segment("SCH")
		f := sch.Field(1)
		if f.Component(2).String() != "y" || f.Repetitions()[1].Component(1).Subcomponent(2).String() != "w" {
			t.Errorf("%s: SCH-1 %q parsed wrong", name, f.Raw())
		}
		if code, trig := m.Type(); code != "SIU" || trig != "S12" {
			t.Errorf("%s: type %s %s", name, code, trig)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, msg := range map[string]string{
		"empty":            "",
		"json":             `{"resourceType":"Task"}`,
		"no MSH":           "PID|1||x\r",
		"letter separator": "MSHA^~\\&A\r",
		"repeated enc":     "MSH|^^\\&|a\r",
		"no separator":     "MSH|^~\\&",
		"bad segment":      "MSH|^~\\&|a\rpid|1\r",
		"glued segment":    "MSH|^~\\&|a\rPIDX1\r",
		"two MSH":          "MSH|^~\\&|a\rMSH|^~\\&|b\r",
	} {
		if _, err := Parse([]byte(msg)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: err = %v, want ErrSyntax", name, err)
		}
	}
}

func TestSplit(t *testing.T) {
	stream := "FHS|^~\\&\nBHS|^~\\&\n" + strings.ReplaceAll(ref, "\r", "\n") + "\x0b" + ref + "\x1c\r" + "BTS|2\nFTS|1\n"
	msgs := Split([]byte(stream))
	if len(msgs) != 2 {
		t.Fatalf("Split found %d messages, want 2", len(msgs))
	}
	for _, b := range msgs {
		if string(b) != ref {
			t.Errorf("message %q, want %q", b, ref)
		}
	}
	if got := Split([]byte("junk\r" + ref)); len(got) != 2 || string(got[0]) != "junk\r" {
		t.Errorf("leading junk not kept as its own chunk: %q", got)
	}
}

func TestParsePathRejects(t *testing.T) {
	for _, s := range []string{"", "SCH", "SCH-", "SCH-x", "sch-1", "SCH-0", "SCH-1.2.3.4", "SCH-1[0]", "SCH-1[x]"} {
		if _, err := ParsePath(s); err == nil {
			t.Errorf("ParsePath(%q) succeeded", s)
		}
	}
}

func TestParseTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"20260302":                 "2026-03-02T05:00:00Z",
		"202603021405":             "2026-03-02T19:05:00Z",
		"20260302140530":           "2026-03-02T19:05:30Z",
		"20260302140530.25":        "2026-03-02T19:05:30Z",
		"20260302140530+0100":      "2026-03-02T13:05:30Z",
		"20260302140530.1234-0200": "2026-03-02T16:05:30Z",
		"20260708090000":           "2026-07-08T13:00:00Z", // daylight time
	} {
		got, err := ParseTime(in, ny)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if s := got.UTC().Truncate(time.Second).Format(time.RFC3339); s != want {
			t.Errorf("%s = %s, want %s", in, s, want)
		}
	}
	for _, in := range []string{"", "2026", "202603", "20261302", "20260302140530.", "20260302+01", "2026-03-02", "20260302140530.12345", "202603021405.1"} {
		if _, err := ParseTime(in, ny); err == nil {
			t.Errorf("ParseTime(%q) succeeded", in)
		} else if strings.Contains(err.Error(), in) && in != "" {
			t.Errorf("error quotes the value: %v", err)
		}
	}
}
