package mailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
)

// Received is one message as the server got it.
type Received struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Raw  []byte   // the message data: headers and body, as sent
}

// Header returns the decoded value of header name ("" if absent or the
// message does not parse); RFC 2047 encoded words are decoded.
func (r Received) Header(name string) string {
	msg, err := netmail.ReadMessage(bytes.NewReader(r.Raw))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Subject returns the decoded Subject header.
func (r Received) Subject() string { return r.Header("Subject") }

// TextBody returns the decoded text/plain part, with CRLF line ends turned
// into LF so it compares equal to the text that was sent.
func (r Received) TextBody() string { return r.part("text/plain") }

// HTMLBody returns the decoded text/html part, with LF line ends.
func (r Received) HTMLBody() string { return r.part("text/html") }

// Link returns the first URL in the text part that starts with prefix, or ""
// if there is none. The URL ends at white space, a quote or an angle bracket;
// a sentence's closing punctuation after it is not part of it.
func (r Received) Link(prefix string) string {
	text := r.TextBody()
	i := strings.Index(text, prefix)
	if i < 0 {
		return ""
	}
	link := text[i:]
	if end := strings.IndexAny(link, " \t\r\n\"'<>"); end >= 0 {
		link = link[:end]
	}
	return strings.TrimRight(link, ".,;:!?)")
}

// part finds the first body of media type want, looking into nested
// multiparts, or returns "" (with the reason, for a failing test to print).
func (r Received) part(want string) string {
	msg, err := netmail.ReadMessage(bytes.NewReader(r.Raw))
	if err != nil {
		return fmt.Sprintf("mailtest: unreadable message: %v", err)
	}
	body, found, err := findPart(want, msg.Header.Get("Content-Type"),
		msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		return fmt.Sprintf("mailtest: unreadable %s part: %v", want, err)
	}
	if !found {
		return ""
	}
	return strings.ReplaceAll(body, "\r\n", "\n")
}

func findPart(want, contentType, encoding string, body io.Reader) (string, bool, error) {
	if contentType == "" {
		contentType = "text/plain" // RFC 2045's default
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false, err
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		// NextRawPart, not NextPart: NextPart decodes quoted-printable
		// itself but not base64; here both are decoded the same way below.
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return "", false, nil
			}
			if err != nil {
				return "", false, err
			}
			got, found, err := findPart(want, p.Header.Get("Content-Type"),
				p.Header.Get("Content-Transfer-Encoding"), p)
			if err != nil || found {
				return got, found, err
			}
		}
	}
	if mediaType != want {
		return "", false, nil
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		// The line breaks base64 bodies carry are skipped by the decoder.
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	return string(b), err == nil, err
}
