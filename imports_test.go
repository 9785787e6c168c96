package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedImports lists, for each of our packages, which of our packages it
// may import (the rules of DESIGN.md, plus the folders added since). A
// package missing here may import none of ours.
var allowedImports = map[string][]string{
	"natter/internal/disktest": {"natter/internal/testenv"},
	"natter/internal/pgtest":   {"natter/internal/testenv"},
	"natter":                   {"natter/app"},
	"natter/app":               {"natter/assets", "natter/chat", "natter/cluster", "natter/db", "natter/handlers", "natter/mail", "natter/password"},
	// cluster carries user events between nodes; it knows the registry
	// through an interface of its own, and nothing of the web layer.
	"natter/cluster":           {},
	"natter/internal/natstest": {},
	"natter/app/apptest":       {"natter/app", "natter/client", "natter/handlers", "natter/internal/testlog", "natter/mail", "natter/mail/mailtest", "natter/password"},
	"natter/handlers":          {"natter/assets", "natter/chat", "natter/db", "natter/mail", "natter/password", "natter/views"},
	"natter/views":             {"natter/chat", "natter/db"},
	"natter/deploy":            {"natter/app", "natter/client", "natter/mail/mailtest"},
	"natter/loadtest":          {"natter/client"},
	"natter/loadtest/amplify":  {"natter/client"},
}

// forbiddenThirdParty lists outside modules a package must not use: chat
// moves bytes and knows nothing of the web framework or the templates.
var forbiddenThirdParty = map[string][]string{
	// The NATS server is a test dependency: the binary links the client only.
	"natter/app":     {"github.com/nats-io/nats-server/"},
	"natter/cluster": {"github.com/nats-io/nats-server/", "github.com/gofiber/", "github.com/a-h/templ"},
	"natter/chat":    {"github.com/gofiber/", "github.com/a-h/templ", "github.com/fasthttp/", "github.com/valyala/"},
	"natter/db":      {"github.com/gofiber/", "github.com/a-h/templ"},
	"natter/views":   {"github.com/gofiber/", "github.com/valyala/"},
}

func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		for _, imp := range p.Imports {
			if (imp == "natter" || strings.HasPrefix(imp, "natter/")) && !slices.Contains(allowedImports[p.ImportPath], imp) {
				t.Errorf("%s imports %s, which the import rules do not allow", p.ImportPath, imp)
			}
			for _, bad := range forbiddenThirdParty[p.ImportPath] {
				if strings.HasPrefix(imp, bad) {
					t.Errorf("%s imports %s; it must not depend on %s", p.ImportPath, imp, bad)
				}
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if seen < 8 {
		t.Fatalf("go list reported %d packages; expected at least 8", seen)
	}
}
