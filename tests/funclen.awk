# funclen.awk - print "file:line name N lines" for each function body
# longer than MAX lines (default 80), from the line with its name to its
# closing brace, that no "LONG:" comment in the
# lines just above it explains. Functions are BSD-style: the name's line
# ends with ")" and the body opens with "{" and closes with "}" in
# column 0. Blank lines and comment-only lines count too.
BEGIN { if (MAX == "") MAX = 80 }
FNR == 1 { inbody = 0; nlines = 0; split("", prev) }
{
	prev[FNR] = $0
	if (!inbody && $0 == "{") {
		inbody = 1; start = FNR; name = ""; why = 0
		for (i = FNR - 1; i > 0 && i >= FNR - 12; i--) {
			if (name == "" && match(prev[i], /^[A-Za-z_][A-Za-z0-9_]*\(/)) {
				name = substr(prev[i], 1, RLENGTH - 1)
				start = i
			}
			if (prev[i] ~ /LONG:/) why = 1
			if (prev[i] == "}" || prev[i] ~ /^};?$/) break
		}
		next
	}
	if (inbody && $0 == "}") {
		inbody = 0
		n = FNR - start + 1
		if (n > MAX && !why)
			printf "%s:%d %s %d lines\n", FILENAME, start, name, n
	}
}
