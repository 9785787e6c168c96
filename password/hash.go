// Package password hashes and checks account passwords: argon2id hashing
// behind a concurrency limit, and the policy a new password must meet.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// MaxLength is the longest password accepted, in bytes of UTF-8. It is
// counted in bytes, not characters, because hashing cost and request size
// grow with bytes; 128 bytes still fits 32 emoji or a long passphrase.
const MaxLength = 128

// ErrTooLong is returned by Hash and Verify for a password over MaxLength,
// before any hashing is done, so that long inputs cannot buy CPU time.
var ErrTooLong = errors.New("password: longer than 128 bytes")

// ErrMalformedHash is returned by Verify when the stored hash is not an
// argon2id PHC string this package can safely verify against.
var ErrMalformedHash = errors.New("password: malformed or unsupported hash")

// ErrBusy is returned by Hash and Verify when no hashing slot came free
// within the Hasher's longest wait: the caller should answer "busy, try
// again shortly" rather than queue without bound.
var ErrBusy = errors.New("password: every hashing slot stayed busy")

// DefaultMaxWait is how long Hash and Verify wait for a free slot unless
// SetMaxWait says otherwise: well inside the server's 30 s write timeout,
// and short enough that a person is told to retry instead of staring at a
// spinner.
const DefaultMaxWait = 5 * time.Second

// Params are the argon2id cost parameters. They are written into every hash,
// so changing them later still verifies old hashes and flags them for rehash.
type Params struct {
	Memory      uint32 // KiB of memory per hash
	Iterations  uint32 // passes over the memory
	Parallelism uint8  // lanes; also threads used per hash
	SaltLength  uint32 // bytes of random salt
	KeyLength   uint32 // bytes of derived key
}

// DefaultParams returns the OWASP Password Storage Cheat Sheet's argon2id
// minimum (m=19 MiB, t=2, p=1), with a 16-byte salt and 32-byte key. One lane
// keeps a hash to one core, so the semaphore alone bounds CPU use.
func DefaultParams() Params {
	return Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Hasher hashes and verifies passwords. At most maxConcurrent hashes run at
// once: each holds Memory KiB, so the cap bounds memory under a login storm.
// A Hasher is safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{} // a slot per running hash
	dummy  string        // hash that no password matches, for VerifyDummy

	maxWait atomic.Int64 // nanoseconds a derivation may wait for a slot
	// What the wait for a slot has been, for WaitStats.
	acquired, busy, waitedNS, longestNS atomic.Int64

	// derive computes the key; tests replace it to observe concurrency.
	derive func(pw, salt []byte, p Params) []byte
}

// NewHasher returns a Hasher using p, which should pass Validate (or hashes
// made with it will not verify). maxConcurrent <= 0 means GOMAXPROCS:
// a one-lane hash is CPU-bound on one core, so more concurrent hashes than
// cores only queue inside the scheduler while each holds its memory.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{
		params: p,
		sem:    make(chan struct{}, maxConcurrent),
		derive: func(pw, salt []byte, p Params) []byte {
			return argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
		},
	}
	h.maxWait.Store(int64(DefaultMaxWait))
	// The dummy is random salt and key in the configured format: verifying
	// against it costs exactly one real derivation, and no password matches.
	h.dummy = encode(p, randomBytes(p.SaltLength), randomBytes(p.KeyLength))
	return h
}

// SetMaxWait sets how long Hash and Verify wait for a free hashing slot
// before giving up with ErrBusy; d <= 0 restores DefaultMaxWait.
func (h *Hasher) SetMaxWait(d time.Duration) {
	if d <= 0 {
		d = DefaultMaxWait
	}
	h.maxWait.Store(int64(d))
}

// WaitStats is what a Hasher has recorded of the wait for a hashing slot
// since it was made, for logs and metrics.
type WaitStats struct {
	Acquired    int64         // derivations that got a slot
	Busy        int64         // derivations refused with ErrBusy
	TotalWait   time.Duration // summed wait of the derivations that got a slot
	LongestWait time.Duration // longest wait of one that got a slot
}

// WaitStats returns the wait recorded so far.
func (h *Hasher) WaitStats() WaitStats {
	return WaitStats{
		Acquired:    h.acquired.Load(),
		Busy:        h.busy.Load(),
		TotalWait:   time.Duration(h.waitedNS.Load()),
		LongestWait: time.Duration(h.longestNS.Load()),
	}
}

// Hash returns the PHC string for pw, for example
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>". It waits for a free hashing
// slot, giving up with ctx's error if ctx ends first and with ErrBusy after
// the longest wait (SetMaxWait).
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > MaxLength {
		return "", ErrTooLong
	}
	salt := randomBytes(h.params.SaltLength)
	key, err := h.run(ctx, pw, salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether pw matches the stored hash encoded. needsRehash is
// true when the password matched but encoded was made with other params than
// the Hasher's: the caller should then store a fresh Hash of pw.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error) {
	if len(pw) > MaxLength {
		return false, false, ErrTooLong
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.run(ctx, pw, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// VerifyDummy does the same work as a failed Verify, against a hash no
// password matches. Sign-in calls it for an unknown user so that the answer
// takes as long as for a known user with a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, _, err := h.Verify(ctx, pw, h.dummy)
	return err
}

// run derives a key while holding a semaphore slot.
func (h *Hasher) run(ctx context.Context, pw string, salt []byte, p Params) ([]byte, error) {
	// Checked first because select picks at random when both cases are ready.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.sem }()
	// NFC makes "é" typed as one code point or as e + accent the same password,
	// as NIST SP 800-63B asks; both forms come from real keyboards.
	return h.derive([]byte(norm.NFC.String(pw)), salt, p), nil
}

// acquire takes a hashing slot, waiting at most the longest wait.
func (h *Hasher) acquire(ctx context.Context) error {
	start := time.Now()
	select {
	case h.sem <- struct{}{}:
	default:
		timer := time.NewTimer(time.Duration(h.maxWait.Load()))
		defer timer.Stop()
		select {
		case h.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			h.busy.Add(1)
			return ErrBusy
		}
	}
	waited := int64(time.Since(start))
	h.acquired.Add(1)
	h.waitedNS.Add(waited)
	for m := h.longestNS.Load(); waited > m && !h.longestNS.CompareAndSwap(m, waited); m = h.longestNS.Load() {
	}
	return nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Bounds on what a stored hash may ask for. A corrupt or planted row must
// not make Verify allocate gigabytes, panic inside argon2 (zero lanes or
// passes), or match every password (an empty key compares equal to nothing
// derived of length zero).
const (
	maxMemoryKiB  = 1 << 20 // 1 GiB
	maxIterations = 64
	minSaltLength = 8
	minKeyLength  = 16
	maxKeyLength  = 1024
)

func decode(encoded string) (Params, []byte, []byte, error) {
	ap, salt, key, err := argon2id.DecodeHash(encoded)
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	p := Params{Memory: ap.Memory, Iterations: ap.Iterations, Parallelism: ap.Parallelism,
		SaltLength: ap.SaltLength, KeyLength: ap.KeyLength}
	if err := p.Validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// Validate reports params that Verify would refuse to read back from a
// hash; main checks configured params with it before calling NewHasher.
func (p Params) Validate() error {
	switch {
	case p.Parallelism < 1, p.Iterations < 1, p.Iterations > maxIterations,
		p.Memory < 8*uint32(p.Parallelism), p.Memory > maxMemoryKiB,
		p.SaltLength < minSaltLength, p.KeyLength < minKeyLength, p.KeyLength > maxKeyLength:
		return fmt.Errorf("password: argon2id params %+v out of range (m 8*p..%d KiB, t 1..%d, p >= 1, salt >= %d, key %d..%d bytes)",
			p, maxMemoryKiB, maxIterations, minSaltLength, minKeyLength, maxKeyLength)
	}
	return nil
}

func randomBytes(n uint32) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error since Go 1.24; it crashes the
	// program instead if the system's source of randomness fails.
	_, _ = rand.Read(b)
	return b
}
