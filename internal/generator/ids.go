package generator

import (
	"fmt"
	"strconv"
	"strings"
)

// IDFormat is how the simulated referral ids look. Real sources differ, and
// the KPI SQL must be fast and exact whatever the ids, not only when they sort
// by creation time.
type IDFormat string

// The referral id formats of --id-format.
const (
	// IDSequential is R- and an eight-digit number in creation order
	// (R-00000001): ids sort by creation time, as in the first release.
	IDSequential IDFormat = "sequential"
	// IDRandom is a version-4 UUID, as FHIR servers assign resource ids: no
	// relation between an id and its creation time.
	IDRandom IDFormat = "random"
	// IDEHR is a ten-digit number scattered over its range, like an EHR's
	// order numbers drawn from several allocators.
	IDEHR IDFormat = "ehr"
)

// IDFormats lists every format, for flag help and validation.
var IDFormats = []IDFormat{IDSequential, IDRandom, IDEHR}

// Set implements flag.Value.
func (f *IDFormat) Set(s string) error {
	if !IDFormat(s).known() {
		return fmt.Errorf("want one of %s, got %q", idFormatList(), s)
	}
	*f = IDFormat(s)
	return nil
}

func (f IDFormat) known() bool {
	for _, known := range IDFormats {
		if f == known {
			return true
		}
	}
	return false
}

func (f *IDFormat) String() string { return string(*f) }

func idFormatList() string {
	names := make([]string, len(IDFormats))
	for i, f := range IDFormats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// referralName is the id of the referral with sequence number seq (0-based),
// unique within a run for every format.
func (g *generator) referralName(seq int32) string {
	switch g.cfg.IDFormat {
	case IDRandom:
		// mix64 is a bijection, so hi alone is unique per seq before the UUID
		// version bits are set; lo makes a collision after that negligible.
		k := uint64(seq)
		var b [36]byte
		return string(appendUUID(b[:0], mix64(k^g.refKey), mix64(k^^g.refKey)))
	case IDEHR:
		return strconv.FormatUint(1_000_000_000+uint64(scatter32(uint32(seq)^uint32(g.refKey))), 10)
	default:
		return "R-" + pad8(int(seq)+1)
	}
}

// scatter32 is a bijection on uint32 (each step is invertible), so distinct
// sequence numbers get distinct ids in no useful order.
func scatter32(x uint32) uint32 {
	x *= 0x9e3779b1
	x ^= x >> 16
	x *= 0x85ebca6b
	x ^= x >> 13
	return x
}

// pad8 formats n with at least eight digits: enough for maxReferrals, so
// sequential ids sort numerically as strings.
func pad8(n int) string {
	s := strconv.Itoa(n)
	if len(s) >= 8 {
		return s
	}
	return "00000000"[len(s):] + s
}
