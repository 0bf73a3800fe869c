package generator

import (
	"math"
	"math/rand/v2"
)

const (
	minute = 60
	hour   = 60 * minute
	day    = 24 * hour
)

// Stream constants keep the independent random streams of one seed apart.
const (
	streamPopulation uint64 = 0x706f70756c617469
	streamArrivals   uint64 = 0x6172726976616c73
	streamReferral   uint64 = 0x726566657272616c
	streamDelivery   uint64 = 0x64656c6976657279
	streamEventID    uint64 = 0x6576656e74696431
	streamEventID2   uint64 = 0x6576656e74696432
	streamBinary     uint64 = 0x62696e6172796d64
	streamPatient    uint64 = 0x70617469656e7473
	streamInvalid    uint64 = 0x696e76616c696473
	streamReferralID uint64 = 0x7265666572696473
)

// mix64 is the splitmix64 finalizer: a cheap, well-mixed hash of a uint64.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// seedKey derives a per-purpose key from the user's seed.
func seedKey(seed int64, stream uint64) uint64 {
	return mix64(uint64(seed) ^ mix64(stream))
}

// unitFloat maps a hash to [0, 1).
func unitFloat(h uint64) float64 { return float64(h>>11) / (1 << 53) }

const hexDigits = "0123456789abcdef"

// appendUUID appends hi/lo formatted as a version-4 UUID.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	hi = hi&^0xf000 | 0x4000           // version 4
	lo = lo&^(0xc000<<48) | 0x8000<<48 // RFC 4122 variant
	var b [36]byte
	pos := 0
	put := func(v uint64, nibbles int) {
		for i := nibbles - 1; i >= 0; i-- {
			b[pos] = hexDigits[(v>>(4*uint(i)))&0xf]
			pos++
		}
	}
	put(hi>>32, 8)
	b[pos] = '-'
	pos++
	put(hi>>16, 4)
	b[pos] = '-'
	pos++
	put(hi, 4)
	b[pos] = '-'
	pos++
	put(lo>>48, 4)
	b[pos] = '-'
	pos++
	put(lo, 12)
	return append(dst, b[:]...)
}

// logNormal draws exp(N(ln median, sigma²)).
func logNormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

// durDays draws a log-normal duration in seconds with the given median in days.
func durDays(r *rand.Rand, medianDays, sigma float64) int64 {
	return int64(logNormal(r, medianDays, sigma) * day)
}

// between draws uniformly in [lo, hi); hi <= lo gives lo.
func between(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Int64N(hi-lo)
}

// pick draws an index with probability proportional to w.
func pick(r *rand.Rand, w []float64) int {
	var sum float64
	for _, x := range w {
		sum += x
	}
	u := r.Float64() * sum
	for i, x := range w {
		if u < x {
			return i
		}
		u -= x
	}
	return len(w) - 1
}

// alias is Vose's alias table: O(1) draws from a fixed discrete distribution.
type alias struct {
	prob  []float64
	alias []int32
}

func newAlias(w []float64) alias {
	n := len(w)
	a := alias{prob: make([]float64, n), alias: make([]int32, n)}
	var sum float64
	for _, x := range w {
		sum += x
	}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s], a.alias[s] = scaled[s], l
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range large {
		a.prob[i] = 1
	}
	for _, i := range small { // rounding leftovers
		a.prob[i] = 1
	}
	return a
}

func (a *alias) draw(r *rand.Rand) int {
	i := r.IntN(len(a.prob))
	if r.Float64() < a.prob[i] {
		return i
	}
	return int(a.alias[i])
}

// zipfWeights returns n weights ∝ 1/rank^s.
func zipfWeights(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return w
}
