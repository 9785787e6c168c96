package chat

func Undocumented() {}

var Naked = 1
