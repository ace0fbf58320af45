# What an mdoc page documents for each command of a program, for
# e2e_manpages.sh.  Run with -v commands="init ingest ..." (the commands the
# program's --help lists).  Prints one line per fact:
#   opt CMD OPTION   OPTION is written with Fl for CMD ("-" for global)
#   cmd CMD          the page has an item for CMD in its list of commands
# A command's options are the Fl words of its SYNOPSIS entry (after its Cm)
# and of its item in the list of commands; the global ones are those of a
# SYNOPSIS entry before its Cm and the Fl tags of lists outside that item.
# The list of commands is the list whose first item is a Cm naming one of
# the commands, written ".It Cm name" or ".It Xo" then ".Cm name".

BEGIN {
	n = split(commands, c, " ")
	for (i = 1; i <= n; i++)
		known[c[i]] = 1
	depth = 0
	cur = ""
}

# The words after each Fl of the line, as options.
function fls(line, who,    w, n, i, t, k) {
	n = split(line, w, /[ \t]+/)
	for (i = 1; i < n; i++) {
		if (w[i] != "Fl" && w[i] != ".Fl")
			continue
		t = w[i + 1]
		sub(/[,.;:)|]+$/, "", t)
		if (t !~ /^-?[A-Za-z]/)
			continue
		k = split(who, ws, " ")
		for (j = 1; j <= k; j++)
			print "opt", ws[j], "-" t
	}
}

# A Cm line's command names ("Cm pause | resume" gives both).
function cmnames(line,    w, n, i, out) {
	n = split(line, w, /[ \t]+/)
	out = ""
	for (i = 1; i <= n; i++)
		if (w[i] ~ /^[a-z][a-z0-9_-]*$/ && w[i] != "Cm" && w[i] != "No")
			out = out (out == "" ? "" : " ") w[i]
	return out
}

# An item of the list at this depth: a command's, or not.
function item(name) {
	if (iscmds[depth] == "") {
		split(name, first, " ")
		iscmds[depth] = (first[1] in known) ? "yes" : "no"
	}
	if (iscmds[depth] != "yes")
		return 0
	cur = name
	curdepth = depth
	n = split(name, w, " ")
	for (i = 1; i <= n; i++)
		print "cmd", w[i]
	return 1
}

/^\.Sh / {
	section = $2
	cur = ""
	who = "-"
	next
}

section == "SYNOPSIS" {
	if ($1 == ".Nm")
		who = "-"
	else if ($1 == ".Cm")
		who = cmnames($0)
	fls($0, who)
	next
}

$1 == ".Bl" {
	depth++
	iscmds[depth] = ""
	next
}

$1 == ".El" {
	if (cur != "" && depth == curdepth)
		cur = ""
	depth--
	next
}

xo {
	xo = 0
	if ($1 == ".Cm" && item(cmnames($0))) {
		fls($0, cur)
		next
	}
}

$1 == ".It" {
	if ($2 == "Xo") {
		if (cur == "" || depth == curdepth) {
			if (depth == curdepth)
				cur = ""
			xo = 1
		}
		next
	}
	if (cur != "" && depth == curdepth)
		cur = ""
	if (cur == "" && $2 == "Cm" && item(cmnames($0)))
		next
	if (cur == "" && iscmds[depth] == "")
		iscmds[depth] = "no"
	if (cur == "" && $2 == "Fl" && section == "DESCRIPTION") {
		fls($0, "-")
		next
	}
}

cur != "" {
	fls($0, cur)
}
