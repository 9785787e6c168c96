package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/db"
	"natter/internal/pgtest"
	"natter/internal/stallproxy"
)

// TestMain runs the tests, or, with NATTER_DRILL_NODE=1, is a Natter node
// in a process of its own (drills_test.go kills it with SIGKILL).
func TestMain(m *testing.M) {
	if os.Getenv("NATTER_DRILL_NODE") == "1" {
		os.Exit(drillNode())
	}
	os.Exit(pgtest.Main(m))
}

// onPostgres sets the server's NATTER_DATABASE_URL.
func onPostgres(url string) apptest.Option {
	return apptest.Config(func(c *app.Config) { c.DatabaseURL = url })
}

// Two nodes on one PostgreSQL are one site for accounts: an account made
// on one signs in on the other, a session cookie from one is good on the
// other, and signing out on one ends it on both.
func TestTwoNodesShareAccounts(t *testing.T) {
	url := pgtest.URL(t)
	a := apptest.Start(t, onPostgres(url))
	b := apptest.Start(t, onPostgres(url))
	a.WaitLog(0, "accounts in PostgreSQL; mail outbox in the SQLite file", "outbox="+a.Config.DBPath)

	alice := a.User("alice")
	onB := b.Client()
	if err := onB.Login("alice", apptest.Password); err != nil {
		t.Fatalf("signing in on the other node: %v", err)
	}
	// The cookie made on a, presented to b.
	req, _ := http.NewRequest(http.MethodGet, b.URL+"/account", nil)
	req.Header.Set("Cookie", alice.CookieHeader())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("alice@example.com")) {
		t.Fatalf("a's session on b: %d\n%.500s", res.StatusCode, body)
	}
	if u, err := b.DB().UserByLogin(context.Background(), "alice"); err != nil || !u.IsAdmin {
		t.Errorf("alice on b's database: %+v, %v; want the first account, an admin", u, err)
	}
	// The SQLite files hold no account: only each node's outbox.
	for _, n := range []*apptest.Server{a, b} {
		local, err := db.Open(context.Background(), n.Config.DBPath)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := local.CountUsers(context.Background()); c != 0 {
			t.Errorf("%s holds %d accounts, want none", n.Config.DBPath, c)
		}
		local.Close()
	}
}

// The commands act on the accounts in PostgreSQL, and backup points to
// pg_dump.
func TestCommandsOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := app.Command(context.Background(), args, func(k string) string {
			switch k {
			case "NATTER_DATABASE_URL":
				return url
			case "NATTER_DB":
				return dir + "/natter.db"
			}
			return ""
		}, strings.NewReader(stdin), &out, io.Discard)
		return out.String(), err
	}
	_, err := run("", "backup", dir+"/copy.db")
	want := "the accounts are in PostgreSQL (NATTER_DATABASE_URL is set): back them up with pg_dump, not natter backup"
	if err == nil || err.Error() != want {
		t.Errorf("backup = %v, want %q", err, want)
	}
	if _, err := os.Stat(dir + "/copy.db"); !os.IsNotExist(err) {
		t.Errorf("backup wrote a file: %v", err)
	}
	out, err := run(apptest.Password+"\n", "user", "create", "carol", "carol@example.com")
	if err != nil || !strings.HasPrefix(out, "created user carol (id ") {
		t.Fatalf("user create = %q, %v", out, err)
	}
	s := apptest.Start(t, onPostgres(url))
	if err := s.Client().Login("carol", apptest.Password); err != nil {
		t.Errorf("carol, made by the command, signing in: %v", err)
	}
}

// A bad URL is refused at start with the setting's name, and no password
// is shown.
func TestDatabaseURLSetting(t *testing.T) {
	var stderr bytes.Buffer
	err := app.Run(context.Background(), []string{"-database-url", "mysql://natter:s3cret@db/natter"}, func(string) string { return "" }, io.Discard, &stderr)
	want := `invalid -database-url ($NATTER_DATABASE_URL) "mysql://natter:xxxxx@db/natter": want a URL such as postgres://natter:PASSWORD@db.example.com/natter`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

// A PostgreSQL that stops answering (a partition, a frozen server: the
// connections stay open, nothing is refused) costs a request a few
// seconds and the cannot-save page, not the request for good; /healthz
// and /readyz say so; all recovers by itself when it answers again.
func TestStalledPostgresIsTold(t *testing.T) {
	url := pgtest.URL(t)
	network, addr := pgtest.Dial(t, url)
	proxy := stallproxy.Start(t, network, addr)
	s := apptest.Start(t, onPostgres(pgtest.Via(t, url, proxy.Addr())))
	alice := s.User("alice")
	t.Cleanup(proxy.Resume) // before the server stops
	proxy.Stall()
	// More requests at once than the node has connections to PostgreSQL.
	const n = 15
	var wg sync.WaitGroup
	results := make([]*client.Response, n)
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = alice.Get("/account")
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the requests took %v, want an answer within 20 s", took)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		wantCannotSave(t, "GET /account while PostgreSQL is stalled", results[i])
	}
	if !strings.Contains(s.Log.String(), `level=ERROR msg="database cannot be written" err=`) {
		t.Error("the log does not say that the database cannot be written")
	}
	if status, _, body := apptest.Get(t, s.URL+"/readyz"); status != http.StatusServiceUnavailable || body != "database unavailable\n" {
		t.Errorf("/readyz = %d %q, want 503 database unavailable", status, body)
	}
	if res := healthz(t, alice); res.Status != http.StatusServiceUnavailable {
		t.Errorf("/healthz = %d %q, want 503", res.Status, res.Body)
	}
	proxy.Resume()
	waitHealthy(t, alice, "PostgreSQL answering again")
	if res, err := alice.Get("/account"); err != nil || res.Status != http.StatusOK || !strings.Contains(res.Body, "alice@example.com") {
		t.Errorf("/account once PostgreSQL answers again: %v %+v", err, res)
	}
}
