package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"natter/client"
)

// isLoopbackHost reports whether host is a loopback IP or "localhost".
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sourceIP is the i-th loopback source address of a pool that starts at
// 127.1.0.1. Addresses ending in .0 and .255 are skipped.
func sourceIP(i int) net.IP {
	return net.IPv4(127, byte(1+i/(250*250)), byte(i/250%250), byte(i%250+1))
}

// signupIP is the source address for user k's sign-up: the server allows
// 10 sign-ups per hour per address, so each address signs up at most 8,
// from a pool that starts at a random offset so that reruns within the
// hour use fresh addresses.
func signupIP(offset, k int) net.IP {
	i := offset + k/8
	return net.IPv4(127, byte(100+i/(250*250)%100), byte(i/250%250), byte(i%250+1))
}

// httpFrom returns an http.Transport whose connections leave from ip.
func httpFrom(ip net.IP) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1, IdleConnTimeout: 5 * time.Second}
}

// account is one signed-in load-test user.
type account struct {
	name   string
	client *client.Client
	// nodes are its clients of every -base, in order (onNodes).
	nodes []*client.Client
}

// accountStats counts how the accounts were obtained.
type accountStats struct {
	Cached   int64   `json:"cached"`
	SignedIn int64   `json:"signed_in"`
	SignedUp int64   `json:"signed_up"`
	Seconds  float64 `json:"seconds"`
}

// signIn returns cfg.users signed-in accounts: a cached session cookie if
// it still opens /rooms, else a sign-in, else (with -signup) a sign-up.
func signIn(ctx context.Context, cfg config, progress io.Writer) ([]*account, accountStats, error) {
	start := time.Now()
	cache := readCookies(cfg.cookieFile)
	accts := make([]*account, cfg.users)
	var st accountStats
	var done, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	offset := rand.IntN(40000)

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range cfg.loginConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				a, how, err := oneAccount(cfg, k, cache[userName(cfg, k)], offset)
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				accts[k] = a
				switch how {
				case "cached":
					atomic.AddInt64(&st.Cached, 1)
				case "signin":
					atomic.AddInt64(&st.SignedIn, 1)
				case "signup":
					atomic.AddInt64(&st.SignedUp, 1)
				}
				done.Add(1)
			}
		}()
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	deadline := time.After(30 * time.Minute) // 20,000 sign-ups at 100 ms each fit well inside
feed:
	for k := range cfg.users {
		for {
			select {
			case jobs <- k:
				continue feed
			case <-tick.C:
				fmt.Fprintf(progress, "accounts: %d/%d ready, %d failed\n", done.Load(), cfg.users, failed.Load())
			case <-ctx.Done():
				break feed
			case <-deadline:
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	st.Seconds = time.Since(start).Seconds()
	writeCookies(cfg.cookieFile, cfg, accts, cache)
	if n := failed.Load(); n > 0 {
		return nil, st, fmt.Errorf("%d of %d accounts failed; first: %w", n, cfg.users, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, st, err
	}
	if done.Load() < int64(cfg.users) {
		return nil, st, errors.New("accounts: time limit reached")
	}
	fmt.Fprintf(progress, "accounts: %d ready in %.1fs (cached %d, signed in %d, signed up %d)\n",
		cfg.users, st.Seconds, st.Cached, st.SignedIn, st.SignedUp)
	return accts, st, nil
}

func userName(cfg config, k int) string { return fmt.Sprintf("%s%d", cfg.userPrefix, k) }

// oneAccount signs user k in, trying the cached cookie first.
func oneAccount(cfg config, k int, cookie string, offset int) (*account, string, error) {
	name := userName(cfg, k)
	c, err := client.New(cfg.bases[0])
	if err != nil {
		return nil, "", err
	}
	c.HTTP.Transport = httpFrom(sourceIP(k % cfg.sourceIPs))
	defer c.HTTP.CloseIdleConnections() // the sockets need the file descriptors
	a := &account{name: name, client: c}
	if cookie != "" {
		var cks []*http.Cookie
		for _, p := range strings.Split(cookie, "; ") {
			if n, v, ok := strings.Cut(p, "="); ok {
				cks = append(cks, &http.Cookie{Name: n, Value: v, Path: "/"})
			}
		}
		c.HTTP.Jar.SetCookies(c.Base, cks)
		if res, err := c.Get("/rooms"); err == nil && res.Status == http.StatusOK {
			return a, "cached", nil
		}
		c, _ = client.New(cfg.bases[0]) // a fresh jar: the stale cookie goes
		c.HTTP.Transport = httpFrom(sourceIP(k % cfg.sourceIPs))
		defer c.HTTP.CloseIdleConnections()
		a.client = c
	}
	err = c.Login(name, cfg.password)
	if err == nil {
		return a, "signin", nil
	}
	if !errors.Is(err, client.ErrRefused) || !cfg.signup {
		return nil, "", fmt.Errorf("sign in %s: %w", name, err)
	}
	// Sign up from an address of its own: 10 sign-ups per hour per address.
	c, _ = client.New(cfg.bases[0])
	c.HTTP.Transport = httpFrom(signupIP(offset, k))
	defer c.HTTP.CloseIdleConnections()
	a.client = c
	if err := c.Register(name, name+"@loadtest.example.com", cfg.password); err != nil {
		return nil, "", fmt.Errorf("sign up %s: %w", name, err)
	}
	return a, "signup", nil
}

// readCookies reads "name<TAB>cookie" lines; a missing file is empty.
func readCookies(path string) map[string]string {
	m := map[string]string{}
	if path == "" {
		return m
	}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if n, ck, ok := strings.Cut(sc.Text(), "\t"); ok {
			m[n] = ck
		}
	}
	return m
}

// writeCookies saves each account's session cookie for the next run,
// keeping the cached one of an account that failed this time.
func writeCookies(path string, cfg config, accts []*account, cache map[string]string) {
	if path == "" {
		return
	}
	for k, a := range accts {
		if a == nil {
			continue
		}
		if ck := a.client.CookieHeader(); ck != "" {
			cache[userName(cfg, k)] = ck
		}
	}
	var b strings.Builder
	for name, ck := range cache {
		fmt.Fprintf(&b, "%s\t%s\n", name, ck)
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o600)
}
