package metrics

import (
	"cmp"
	"maps"
	"slices"

	"github.com/referralops/referralops/metrics/kpi"
)

// locationLabels decides, once per snapshot, which locations keep their own
// label value: the allow-list, or else the top n by referrals in the largest
// window (ties by name, so the choice is stable). Every other location maps
// to OtherLocation, where the families sum it, so totals over the location
// label stay exact.
func locationLabels(s kpi.Snapshot, allow []string, n int) func(string) string {
	keep := map[string]bool{}
	if len(allow) > 0 {
		for _, l := range allow {
			keep[l] = true
		}
	} else {
		for _, l := range topLocations(s, n) {
			keep[l] = true
		}
	}
	return func(l string) string {
		if keep[l] {
			return l
		}
		return OtherLocation
	}
}

// topLocations ranks every location seen in the snapshot.
func topLocations(s kpi.Snapshot, n int) []string {
	largest := -1
	for i, w := range s.Windows {
		if largest < 0 || w.Window > s.Windows[largest].Window {
			largest = i
		}
	}
	volume := map[string]int64{}
	for i, w := range s.Windows {
		for _, g := range groupsOf(w, kpi.ServiceLine, kpi.Location) {
			l := g.Labels[1].Value
			if i == largest {
				volume[l] += g.Fields.Referrals
			} else if _, ok := volume[l]; !ok {
				volume[l] = 0 // seen (e.g. backlog only): ranks last
			}
		}
	}
	all := slices.SortedFunc(maps.Keys(volume), func(a, b string) int {
		return cmp.Or(cmp.Compare(volume[b], volume[a]), cmp.Compare(a, b))
	})
	return all[:min(n, len(all))]
}

// groupsOf is the window's groups of the breakdown dims, in that order.
func groupsOf(w kpi.WindowSnapshot, dims ...kpi.Dimension) []kpi.Group {
	var out []kpi.Group
next:
	for _, g := range w.Groups {
		if len(g.Labels) != len(dims) {
			continue
		}
		for i, d := range dims {
			if g.Labels[i].Dimension != d {
				continue next
			}
		}
		out = append(out, g)
	}
	return out
}
