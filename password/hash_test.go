package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cheap keeps tests fast; only TestDefaultParams pays for the real cost.
var cheap = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestDefaultParams(t *testing.T) {
	h := NewHasher(DefaultParams(), 0)
	hash, err := h.Hash(context.Background(), "tangerine-Orbit-42")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(hash, prefix) {
		t.Fatalf("hash %q does not start with %q", hash, prefix)
	}
	// 16-byte salt and 32-byte key in unpadded base64: 22 and 43 characters.
	parts := strings.Split(strings.TrimPrefix(hash, prefix), "$")
	if len(parts) != 2 || len(parts[0]) != 22 || len(parts[1]) != 43 {
		t.Fatalf("salt and key of %q have the wrong lengths", hash)
	}
	ok, rehash, err := h.Verify(context.Background(), "tangerine-Orbit-42", hash)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	if got := cap(h.sem); got != runtime.GOMAXPROCS(0) {
		t.Errorf("default concurrency = %d, want GOMAXPROCS %d", got, runtime.GOMAXPROCS(0))
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	slower := cheap
	slower.Iterations = 2
	tests := []struct {
		name       string
		stored     Params // params the stored hash was made with
		storedPW   string
		pw         string
		ok, rehash bool
	}{
		{"right password", cheap, "tangerine-Orbit-42", "tangerine-Orbit-42", true, false},
		{"wrong password", cheap, "tangerine-Orbit-42", "tangerine-Orbit-43", false, false},
		{"64 characters with emoji and spaces", cheap, emoji64Chars, emoji64Chars, true, false},
		{"empty password does not match", cheap, "tangerine-Orbit-42", "", false, false},
		{"composed and decomposed é are one password", cheap, "caf\u00e9-latte-42", "cafe\u0301-latte-42", true, false},
		{"params changed: right password needs rehash", slower, "tangerine-Orbit-42", "tangerine-Orbit-42", true, true},
		{"params changed: wrong password needs nothing", slower, "tangerine-Orbit-42", "nope-nope-nope", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := NewHasher(tt.stored, 1).Hash(ctx, tt.storedPW)
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := h.Verify(ctx, tt.pw, stored)
			if ok != tt.ok || rehash != tt.rehash || err != nil {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.ok, tt.rehash)
			}
		})
	}
}

// countDerive replaces h.derive with one that counts calls.
func countDerive(h *Hasher) *atomic.Int32 {
	var n atomic.Int32
	real := h.derive
	h.derive = func(pw, salt []byte, p Params) []byte {
		n.Add(1)
		return real(pw, salt, p)
	}
	return &n
}

func TestTooLongIsRefusedWithoutHashing(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(DefaultParams(), 1)
	calls := countDerive(h)
	long := strings.Repeat("aB3$", 32) + "x" // 129 bytes
	stored := encode(DefaultParams(), make([]byte, 16), make([]byte, 32))

	if _, err := h.Hash(ctx, long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash: err = %v, want ErrTooLong", err)
	}
	if ok, _, err := h.Verify(ctx, long, stored); ok || !errors.Is(err, ErrTooLong) {
		t.Errorf("Verify: ok = %v, err = %v; want false, ErrTooLong", ok, err)
	}
	if err := h.VerifyDummy(ctx, long); !errors.Is(err, ErrTooLong) {
		t.Errorf("VerifyDummy: err = %v, want ErrTooLong", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("argon2 ran %d times for a too-long password, want 0", n)
	}
	if _, err := h.Hash(ctx, long[:MaxLength]); err != nil {
		t.Errorf("Hash of exactly MaxLength bytes: %v", err)
	}
}

func TestVerifyDummyDoesOneFullDerivation(t *testing.T) {
	h := NewHasher(cheap, 1)
	calls := countDerive(h)
	if err := h.VerifyDummy(context.Background(), "tangerine-Orbit-42"); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("VerifyDummy derived %d keys, want 1", n)
	}
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("dummy hash %q does not use the configured params", h.dummy)
	}
}

func TestMalformedHash(t *testing.T) {
	h := NewHasher(cheap, 1)
	calls := countDerive(h)
	salt, key := "c29tZXNhbHRzb21lc2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	for _, stored := range []string{
		"",
		"tangerine-Orbit-42",
		"$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=18$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=4,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=64,t=1,p=1$$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$not base64!",
	} {
		ok, _, err := h.Verify(context.Background(), "tangerine-Orbit-42", stored)
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify against %q: ok = %v, err = %v; want false, ErrMalformedHash", stored, ok, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("argon2 ran %d times against malformed hashes, want 0", n)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Errorf("DefaultParams: %v", err)
	}
	if err := cheap.Validate(); err != nil {
		t.Errorf("test params: %v", err)
	}
	short := cheap
	short.KeyLength = 8
	if err := short.Validate(); err == nil {
		t.Error("an 8-byte key passed Validate")
	}
}

func TestConcurrentHashesAreCapped(t *testing.T) {
	h := NewHasher(cheap, 2)
	var running, most atomic.Int32
	h.derive = func(pw, salt []byte, p Params) []byte {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(2 * time.Millisecond) // long enough for others to pile up
		running.Add(-1)
		return make([]byte, p.KeyLength)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), "tangerine-Orbit-42"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m != 2 {
		t.Errorf("at most %d hashes ran at once, want exactly 2", m)
	}
}

func TestWaitingForASlotRespectsContext(t *testing.T) {
	h := NewHasher(cheap, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	h.derive = func(pw, salt []byte, p Params) []byte {
		close(entered)
		<-release
		return make([]byte, p.KeyLength)
	}
	done := make(chan error)
	go func() {
		_, err := h.Hash(context.Background(), "holds-the-only-slot")
		done <- err
	}()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if _, err := h.Hash(ctx, "tangerine-Orbit-42"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash while waiting, then cancelled: err = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := h.VerifyDummy(ctx, "tangerine-Orbit-42"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("VerifyDummy past deadline: err = %v, want context.DeadlineExceeded", err)
	}

	close(release)
	if err := <-done; err != nil {
		t.Errorf("the hash holding the slot failed: %v", err)
	}
}

// With every slot taken for longer than the longest wait, Hash and Verify
// give up with ErrBusy after that wait (not when the slot frees), and the
// wait is recorded.
func TestWaitingForASlotIsBounded(t *testing.T) {
	h := NewHasher(cheap, 1)
	h.SetMaxWait(50 * time.Millisecond)
	entered, release := make(chan struct{}), make(chan struct{})
	h.derive = func(pw, salt []byte, p Params) []byte {
		select {
		case <-entered:
		default:
			close(entered)
		}
		<-release
		return make([]byte, p.KeyLength)
	}
	done := make(chan error)
	go func() {
		_, err := h.Hash(context.Background(), "holds-the-only-slot")
		done <- err
	}()
	<-entered

	start := time.Now()
	if _, err := h.Hash(context.Background(), "tangerine-Orbit-42"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash with the only slot held: err = %v, want ErrBusy", err)
	}
	if err := h.VerifyDummy(context.Background(), "tangerine-Orbit-42"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy with the only slot held: err = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
		t.Errorf("two refusals took %v, want about 2 x 50 ms", d)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the hash holding the slot failed: %v", err)
	}
	st := h.WaitStats()
	if st.Busy != 2 || st.Acquired != 1 {
		t.Errorf("WaitStats = %+v, want 2 busy and 1 acquired", st)
	}

	// A slot that frees within the wait is taken, and the wait recorded.
	h.derive = func(pw, salt []byte, p Params) []byte { return make([]byte, p.KeyLength) }
	h.SetMaxWait(time.Second)
	h.sem <- struct{}{}
	freed := make(chan time.Time, 1)
	time.AfterFunc(30*time.Millisecond, func() { freed <- time.Now(); <-h.sem })
	// The wait is Hash's own, from its call to the slot freeing: CI once
	// called Hash 1.3 ms after the timer started, and measured from the
	// timer the wait had seemed short. (Hash starts its clock a moment
	// after called: a millisecond is allowed for that.)
	called := time.Now()
	if _, err := h.Hash(context.Background(), "tangerine-Orbit-42"); err != nil {
		t.Fatalf("Hash once the slot frees: %v", err)
	}
	waited := (<-freed).Sub(called) - time.Millisecond
	if st := h.WaitStats(); st.Acquired != 2 || st.LongestWait < waited || st.TotalWait < st.LongestWait {
		t.Errorf("WaitStats = %+v, want the %v wait recorded", st, waited)
	}
}
