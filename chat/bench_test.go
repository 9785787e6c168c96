package chat

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchFrameSize is the size of every frame benchRenderer makes, so a
// socket can count frames by bytes.
const benchFrameSize = 200

// benchRenderer renders every event as the same-sized frame, like a
// message fragment of the real views.
type benchRenderer struct{ frame []byte }

func (r benchRenderer) Message(string, Message) []byte              { return r.frame }
func (r benchRenderer) MemberJoined(string, Member, int) []byte     { return r.frame }
func (r benchRenderer) MemberLeft(string, Member, int) []byte       { return r.frame }
func (r benchRenderer) Snapshot(string, []Message, []Member) []byte { return r.frame }
func (r benchRenderer) Update(string, Message) []byte               { return r.frame }
func (r benchRenderer) Reactions(string, Message) []byte            { return r.frame }
func (r benchRenderer) Typing(string, []string) []byte              { return r.frame }
func (r benchRenderer) Mentioned(string, Message) []byte            { return r.frame }

// countingSocket discards what it is written and counts the bytes.
type countingSocket struct{ bytes *atomic.Int64 }

func (s countingSocket) SetWriteDeadline(time.Time) error { return nil }
func (s countingSocket) WriteMessage(_ int, data []byte) error {
	s.bytes.Add(int64(len(data)))
	return nil
}
func (s countingSocket) WriteControl(int, []byte, time.Time) error { return nil }

// benchRoom is a registry with n pumped members in room "r".
type benchRoom struct {
	reg     *Registry
	written atomic.Int64
	frames  int64 // frames written once the room has settled
	clients []*Client
	pumps   sync.WaitGroup
}

func newBenchRoom(b *testing.B, n int) *benchRoom {
	b.Helper()
	br := &benchRoom{}
	cfg := Config{QueueLimit: 1 << 20, MessageRate: 1e9, MessageBurst: 1 << 30, MaxConnsPerUser: 1 << 30}
	br.reg = New(cfg, benchRenderer{frame: bytes.Repeat([]byte("x"), benchFrameSize)})
	for i := range n {
		c, err := br.reg.Join("r", Member{ID: int64(i + 1), Name: fmt.Sprint("m", i)}, "s")
		if err != nil {
			b.Fatal(err)
		}
		br.clients = append(br.clients, c)
		br.pumps.Go(func() { c.writePump(countingSocket{&br.written}) })
		br.frames += 1 + 2*int64(i+1) // snapshot; notice and joined to everyone
	}
	br.wait(b)
	return br
}

// wait blocks until the pumps have written br.frames frames.
func (br *benchRoom) wait(b *testing.B) {
	for br.written.Load() < br.frames*benchFrameSize {
		time.Sleep(50 * time.Microsecond)
	}
	if got := br.written.Load(); got != br.frames*benchFrameSize {
		b.Fatalf("written %d bytes, want %d", got, br.frames*benchFrameSize)
	}
}

func (br *benchRoom) close() {
	br.reg.Close()
	br.pumps.Wait()
	for _, c := range br.clients {
		br.reg.Leave(c)
	}
}

// BenchmarkFanOut posts one message to a room of n pumped connections and
// waits until every connection's writer has written it.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n, "_clients"), func(b *testing.B) {
			br := newBenchRoom(b, n)
			defer br.close()
			poster := Member{ID: 1}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := br.reg.Post("r", poster, "hello"); err != nil {
					b.Fatal(err)
				}
			}
			posted := time.Since(start)
			br.frames += int64(b.N) * int64(n)
			br.wait(b)
			b.StopTimer()
			b.ReportMetric(float64(posted.Nanoseconds())/float64(b.N), "ns/post")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// BenchmarkJoinLeave joins a new member to a 1,000-member room and lets it
// leave (Grace 0): snapshot, two presence frames in, two out.
func BenchmarkJoinLeave(b *testing.B) {
	const n = 1000
	br := newBenchRoom(b, n)
	defer br.close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c, err := br.reg.Join("r", Member{ID: int64(n + 1 + i), Name: "guest"}, "g")
		if err != nil {
			b.Fatal(err)
		}
		br.reg.Leave(c)
	}
	br.frames += int64(b.N) * 4 * n
	br.wait(b)
}

// BenchmarkIdleConnection holds b.N joined, pumped, idle connections in
// rooms of 100 and reports the memory each costs the registry and its
// writer goroutine (heap plus goroutine stacks); sockets are not included.
func BenchmarkIdleConnection(b *testing.B) {
	reg := New(Config{MaxRooms: 1 << 30, MaxRoomsPerUser: 1 << 30}, benchRenderer{frame: []byte("x")})
	var pumps sync.WaitGroup
	var written atomic.Int64
	clients := make([]*Client, 0, b.N)
	before := memInUse()
	b.ReportAllocs()
	for i := range b.N {
		c, err := reg.Join(fmt.Sprint("room-", i/100), Member{ID: int64(i + 1), Name: "member"}, fmt.Sprint("s", i))
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		pumps.Go(func() { c.writePump(countingSocket{&written}) })
	}
	time.Sleep(100 * time.Millisecond) // let the writers flush the join frames and park
	b.ReportMetric(float64(memInUse()-before)/float64(b.N), "B/conn")
	reg.Close()
	pumps.Wait()
	for _, c := range clients {
		reg.Leave(c)
	}
}

// memInUse returns live heap plus goroutine stacks, after a collection.
func memInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}
