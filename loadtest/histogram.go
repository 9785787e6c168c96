package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts durations in microseconds in log-linear buckets: exact
// below 64 µs, then 64 buckets per power of two (at most 1.6% error), up to
// about 38 hours. It is safe for concurrent use; receivers write into one
// of histShards shards to spread the atomic traffic.
type histogram struct {
	shards [histShards][histBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	histShards  = 16
	histSub     = 64
	histBuckets = histSub + 38*histSub
)

func bucketOf(us uint64) int {
	if us < histSub {
		return int(us)
	}
	shift := bits.Len64(us) - 7 // us>>shift is in [64, 128)
	i := histSub + shift*histSub + int(us>>shift) - histSub
	return min(i, histBuckets-1)
}

// bucketLow is the smallest value of bucket i, in microseconds.
func bucketLow(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	shift := (i - histSub) / histSub
	return uint64(histSub+(i-histSub)%histSub) << shift
}

// add records d in shard s.
func (h *histogram) add(s int, d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.shards[s%histShards][bucketOf(uint64(us))].Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// summary is what the report shows of a histogram, in milliseconds.
type summary struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func (h *histogram) summary() summary {
	var counts [histBuckets]uint64
	var n uint64
	for s := range h.shards {
		for i := range counts {
			c := h.shards[s][i].Load()
			counts[i] += c
			n += c
		}
	}
	q := func(p float64) float64 {
		if n == 0 {
			return 0
		}
		rank := uint64(p*float64(n-1)) + 1
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				// The bucket's midpoint.
				lo, hi := bucketLow(i), bucketLow(i+1)
				return float64(lo+hi) / 2 / 1000
			}
		}
		return float64(h.max.Load()) / 1000
	}
	return summary{Count: n, P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: float64(h.max.Load()) / 1000}
}
