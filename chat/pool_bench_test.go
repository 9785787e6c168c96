package chat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// directCounter is a DirectSocket that takes every write at once and
// counts the payload bytes of the text messages in it.
type directCounter struct{ bytes *atomic.Int64 }

func (d directCounter) TryWrite(b []byte) (int, error) {
	n := len(b)
	for len(b) >= 2 {
		op, m, h := b[0]&0x0f, int(b[1]&0x7f), 2
		switch m {
		case 126:
			m, h = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			m, h = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if op == TextMessage {
			d.bytes.Add(int64(m))
		}
		b = b[h+m:]
	}
	return n, nil
}
func (d directCounter) WriteAll(b []byte, _ time.Time) error { _, err := d.TryWrite(b); return err }
func (directCounter) SetWriteDeadline(time.Time) error       { return nil }
func (directCounter) WriteMessage(int, []byte) error         { return nil }
func (directCounter) WriteControl(int, []byte, time.Time) error {
	return nil
}
func (directCounter) ReadMessage() (int, []byte, error) { select {} }
func (directCounter) SetReadDeadline(time.Time) error   { return nil }
func (directCounter) SetReadLimit(int64)                {}
func (directCounter) SetPongHandler(func(string) error) {}

// BenchmarkFanOutPool is BenchmarkFanOut with the connections written by
// the registry's writers (DirectSockets) instead of a goroutine each.
func BenchmarkFanOutPool(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n, "_clients"), func(b *testing.B) {
			br := &benchRoom{}
			cfg := Config{QueueLimit: 1 << 20, MessageRate: 1e9, MessageBurst: 1 << 30, MaxConnsPerUser: 1 << 30}
			br.reg = New(cfg, benchRenderer{frame: bytes.Repeat([]byte("x"), benchFrameSize)})
			ended := make(chan struct{}, n)
			for i := range n {
				c, err := br.reg.Join("r", Member{ID: int64(i + 1), Name: fmt.Sprint("m", i)}, "s")
				if err != nil {
					b.Fatal(err)
				}
				br.clients = append(br.clients, c)
				br.reg.attachDirect(c, directCounter{&br.written}, func(bool) { ended <- struct{}{} })
				br.frames += 1 + 2*int64(i+1)
			}
			br.wait(b)
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
			br.reg.Close()
			for range n {
				<-ended
			}
			for _, c := range br.clients {
				br.reg.Leave(c)
			}
		})
	}
}
