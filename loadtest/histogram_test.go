package main

import (
	"math"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	for us := uint64(0); us < 1<<20; us++ {
		i := bucketOf(us)
		if lo, hi := bucketLow(i), bucketLow(i+1); us < lo || us >= hi {
			t.Fatalf("%d µs in bucket %d = [%d, %d)", us, i, lo, hi)
		}
	}
}

func TestSummaryPercentiles(t *testing.T) {
	var h histogram
	// 1,000 latencies of 1, 2, ... 1,000 ms, spread over the shards.
	for i := 1; i <= 1000; i++ {
		h.add(i, time.Duration(i)*time.Millisecond)
	}
	s := h.summary()
	want := map[string]struct{ got, want float64 }{
		"p50": {s.P50, 500}, "p90": {s.P90, 900}, "p99": {s.P99, 990}, "p999": {s.P999, 999},
	}
	for name, v := range want {
		if math.Abs(v.got-v.want)/v.want > 0.02 { // buckets are within 1.6%
			t.Errorf("%s = %.1f ms, want %.0f ms ± 2%%", name, v.got, v.want)
		}
	}
	if s.Count != 1000 || s.Max != 1000 {
		t.Errorf("count %d, max %.1f ms; want 1000, 1000", s.Count, s.Max)
	}
	var empty histogram
	if got := empty.summary(); got != (summary{}) {
		t.Errorf("empty summary = %+v", got)
	}
}
