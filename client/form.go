package client

import (
	"errors"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// ErrNoForm means the page has no form posting to the wanted action.
var ErrNoForm = errors.New("no such form")

// FormFields parses page and returns the named fields of the first form
// whose action is action: inputs (hidden ones included) and textareas,
// with their current values.
func FormFields(page, action string) (url.Values, error) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return nil, err
	}
	form := find(doc, func(n *html.Node) bool { return n.Data == "form" && attr(n, "action") == action })
	if form == nil {
		return nil, ErrNoForm
	}
	vals := url.Values{}
	walk(form, func(n *html.Node) {
		name := attr(n, "name")
		if name == "" {
			return
		}
		switch n.Data {
		case "input":
			switch attr(n, "type") {
			case "submit", "button", "checkbox", "radio":
				return
			}
			vals.Set(name, attr(n, "value"))
		case "textarea":
			if n.FirstChild != nil {
				vals.Set(name, n.FirstChild.Data)
			} else {
				vals.Set(name, "")
			}
		}
	})
	return vals, nil
}

// CSRF returns the CSRF token a page carries in its forms, or "".
func CSRF(page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return ""
	}
	in := find(doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "csrf" })
	if in == nil {
		return ""
	}
	return attr(in, "value")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

func walk(n *html.Node, fn func(*html.Node)) {
	if n.Type == html.ElementNode {
		fn(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}
