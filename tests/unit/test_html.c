/* test_html.c - HTML to text. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "html.h"
#include "utf8.h"

struct html_case {
	const char *name, *html, *want;
};

static const struct html_case cases[] = {
	{ "plain_paragraphs", "<p>Hello</p><p>World</p>", "Hello\n\nWorld" },
	{ "script_and_style_dropped",
	    "<html><head><title>T</title><style>p{color:red}</style></head>"
	    "<body><script>alert(1)</script><p>Visible</p></body></html>",
	    "Visible" },
	{ "entities_decoded", "<p>Fish &amp; chips &eacute;t&eacute; &lt;3</p>",
	    "Fish & chips été <3" },
	{ "nbsp_is_a_space", "<p>a&nbsp;&nbsp;b</p>", "a b" },
	{ "br_breaks_lines", "line one<br>line two<br/>line three",
	    "line one\nline two\nline three" },
	{ "whitespace_collapsed", "<p>  lots   of\n\n   space  </p>",
	    "lots of space" },
	{ "inline_elements_keep_spaces", "<p><b>bold</b> <i>italic</i></p>",
	    "bold italic" },
	{ "lists_one_item_per_line", "<ul><li>one</li><li>two</li></ul>",
	    "one\ntwo" },
	{ "divs_are_lines_not_paragraphs",
	    "<div>Hi Ann,</div><div><br></div><div>thanks.</div>",
	    "Hi Ann,\n\nthanks." },
	{ "double_br_gives_a_blank_line", "a<br><br>b", "a\n\nb" },
	{ "unclosed_tags_recovered", "<div><p>open <b>bold", "open bold" },
	{ "empty_document", "", "" },
	{ "only_markup", "<html><body></body></html>", "" },
	{ "utf8_kept", "<p>Grüße — 日本語</p>", "Grüße — 日本語" },
	{ "table_rows_on_lines",
	    "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>",
	    "a b\nc" },
	{ "no_more_than_one_blank_line", "<p>a</p><p></p><p></p><div>b</div>",
	    "a\n\nb" },
};

static void
html_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = html_to_text(cases[i].html, strlen(cases[i].html));

		assert_non_null(t);
		if (strcmp(t, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, t,
			    cases[i].want);
		free(t);
	}
}

static void
binary_garbage_does_not_crash(void **state)
{
	unsigned char junk[4096];
	char *t;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)((i * 131 + 7) & 0xff);
	t = html_to_text((const char *)junk, sizeof(junk));
	assert_non_null(t);
	free(t);
}

/* Found by tests/fuzz/fuzz_html.c: libxml2 kept the bytes after a "<"
 * that starts no tag as they were, invalid UTF-8 included. */
static void
invalid_utf8_after_lt_is_replaced(void **state)
{
	static const char h[] = "<table><tr><td>a</td><td>b<\xff\xff/td>"
	    "</tr></table>";
	char *t = html_to_text(h, sizeof(h) - 1);

	assert_non_null(t);
	assert_true(utf8_valid(t, strlen(t)));
	assert_string_equal(t, "a b<\xef\xbf\xbd\xef\xbf\xbd/td>");
	free(t);
}

static void
deep_nesting_does_not_overflow(void **state)
{
	size_t n = 5000, len = 0;
	char *h = malloc(n * 5 + 16), *t;

	for (size_t i = 0; i < n; i++) {
		memcpy(h + len, "<div>", 5);
		len += 5;
	}
	memcpy(h + len, "deep", 5);
	t = html_to_text(h, len + 4);
	assert_non_null(t);
	free(t);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(html_table),
		cmocka_unit_test(binary_garbage_does_not_crash),
		cmocka_unit_test(invalid_utf8_after_lt_is_replaced),
		cmocka_unit_test(deep_nesting_does_not_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
