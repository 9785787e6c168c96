package views

import (
	"strconv"

	"natter/chat"
)

// statusText is the small label above an error page's heading.
func statusText(status int) string {
	return "Error " + strconv.Itoa(status)
}

func seqString(n uint64) string { return strconv.FormatUint(n, 10) }

func idString(n int64) string { return strconv.FormatInt(n, 10) }

// RoomTitle is how a room's name is shown: the pre-built rooms capitalised,
// user rooms as their slug.
func RoomTitle(slug string) string {
	switch slug {
	case "general":
		return "General"
	case "programming":
		return "Programming"
	}
	return slug
}

func roomDescription(r chat.RoomInfo) string {
	switch r.Slug {
	case "general":
		return "Everything and anything: say hello here."
	case "programming":
		return "Code, tools and the bugs that bite."
	}
	return "A room opened by a member of this server."
}

func memberCountText(n int) string {
	switch n {
	case 0:
		return "empty"
	case 1:
		return "1 member"
	}
	return strconv.Itoa(n) + " members"
}
