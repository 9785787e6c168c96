package handlers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"natter/chat"
)

// The socket frames as the room registry gets them: rendered once per room
// event by Renderer, then queued to every connection. Run with
//
//	go test -run '^$' -bench . -benchmem ./handlers/
//
// docs/performance.md quotes the figures.

func benchMessage(text string, continued bool) chat.Message {
	return chat.Message{
		Seq: 123456, Kind: chat.KindText, Author: chat.Member{ID: 42, Name: "alice.example"},
		Text: text, Sent: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Continued: continued,
	}
}

// BenchmarkRenderMessage renders one message fragment: the per-message cost
// paid once however many members the room has.
func BenchmarkRenderMessage(b *testing.B) {
	cases := []struct {
		name string
		m    chat.Message
	}{
		{"short", benchMessage("ltm000000 12345 987654321 0", false)},
		{"short_continued", benchMessage("see you at 10, bring the <slides> & coffee", true)},
		{"link", benchMessage("notes: https://example.com/a/b?c=d#e and more text after it", false)},
		{"2000_chars", benchMessage(strings.Repeat("lorem ipsum dolor sit amet <&> ", 65)[:2000], false)},
	}
	r := Renderer()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(r.Message("room", c.m))
			}
			b.ReportMetric(float64(n), "bytes/frame")
		})
	}
}

// BenchmarkRenderPresence renders the join and leave fragments, one per
// member change (never the whole list).
func BenchmarkRenderPresence(b *testing.B) {
	r := Renderer()
	m := chat.Member{ID: 42, Name: "alice.example"}
	b.Run("joined", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.MemberJoined("room", m, 1000)
		}
	})
	b.Run("notice", func(b *testing.B) {
		b.ReportAllocs()
		notice := chat.Message{Seq: 9, Kind: chat.KindJoin, Author: m, Sent: time.Now()}
		for b.Loop() {
			r.Message("room", notice)
		}
	})
	b.Run("left", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.MemberLeft("room", m, 999)
		}
	})
}

// BenchmarkRenderSnapshot renders the frame every (re)connect gets: the
// whole history (200 entries) and member list. In a join storm of a
// 1,000-member room it is rendered once per joiner.
func BenchmarkRenderSnapshot(b *testing.B) {
	r := Renderer()
	history := make([]chat.Message, 200)
	for i := range history {
		history[i] = benchMessage(fmt.Sprintf("message number %d with a few words", i), i%3 != 0)
		history[i].Seq = uint64(i + 1)
	}
	for _, n := range []int{10, 1000} {
		members := make([]chat.Member, n)
		for i := range members {
			members[i] = chat.Member{ID: int64(i + 1), Name: fmt.Sprintf("member%d", i)}
		}
		b.Run(fmt.Sprintf("200_messages_%d_members", n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				size = len(r.Snapshot("room", history, members))
			}
			b.ReportMetric(float64(size), "bytes/frame")
		})
	}
}
