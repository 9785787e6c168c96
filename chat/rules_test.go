package chat

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package's own rules, from DESIGN.md and STYLE.md, checked on its
// non-test source files.

func parseSources(t *testing.T) map[string]*ast.File {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]*ast.File)
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return files
}

// TestImportRules: chat imports no package of ours, no Fiber, no templ;
// only the standard library and golang.org/x/time.
func TestImportRules(t *testing.T) {
	for name, f := range parseSources(t) {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.Split(path, "/")[0], ".") && !strings.HasPrefix(path, "natter")
			if !std && path != "golang.org/x/time/rate" {
				t.Errorf("%s imports %q; chat may import only the standard library and golang.org/x/time", name, path)
			}
		}
	}
}

// TestPublicNamesAreDocumented: every exported name carries a doc comment (a
// constant in a documented group may make do with a line comment).
func TestPublicNamesAreDocumented(t *testing.T) {
	for name, f := range parseSources(t) {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Doc == nil {
					t.Errorf("%s: func %s has no doc comment", name, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
							t.Errorf("%s: type %s has no doc comment", name, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if id.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
								t.Errorf("%s: %s has no doc comment", name, id.Name)
							}
						}
					}
				}
			}
		}
	}
}
