"""A corpus of hostile strings for every text input: SQL, markup and script, unicode oddities,
control characters, lone surrogates and sizes past every limit.

``must_store`` marks the strings that are ordinary text to the service, whatever they look like
to a database or a browser: a message with any of them is accepted and comes back byte for byte.
The rest may be refused, with a clear error, never with a 500.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    id: str
    text: str
    must_store: bool = True


MEGABYTE = "x" * (1024 * 1024)

CORPUS = [
    # SQL
    Payload("sql-quote", "' OR '1'='1"),
    Payload("sql-drop", "Robert'); DROP TABLE users; --"),
    Payload("sql-union", "x' UNION SELECT username, pw_hash, 1 FROM users --"),
    Payload("sql-sleep", "1; SELECT pg_sleep(10); --"),
    Payload("sql-comment", "admin'/*"),
    Payload("sql-like", "%_%\\"),
    Payload("sql-double-quote", '" OR ""="'),
    # markup and script
    Payload("script", "<script>window.__pwned = 1; alert(1)</script>"),
    Payload("img-onerror", '<img src=x onerror="window.__pwned=1;alert(2)">'),
    Payload("svg-onload", '"><svg onload=alert(3)>'),
    Payload("js-url", "javascript:alert(4)"),
    Payload("entities", "&lt;b&gt; &amp; &#x3C;script&#x3E;"),
    Payload("template", "{{7*7}} ${7*7} #{7*7} <%= 7*7 %>"),
    Payload("comment", "<!-- --> ]]> <![CDATA[x]]>"),
    Payload("format", "%s%s%s%n %x {0} {__class__}"),
    Payload("path", "../../etc/passwd"),
    Payload("json-ish", '{"content": null, "__proto__": {"x": 1}}'),
    # unicode oddities
    Payload("rtl-override", "\u202egnp.exe \u202bשלום עולם\u202c"),
    Payload("zero-width", "a\u200bb\u200cc\u200dd\u2060e\ufeff"),
    Payload("emoji", "👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇩🇰"),
    Payload("combining", "Z̸̢͎a̵̛l̴͔g̶̟o e\u0301 \u0041\u030a"),
    Payload("astral", "𝕏 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0001f600 \U00020000"),
    Payload("noncharacters", "\ufffe \uffff \U0010ffff \ufdd0"),
    Payload("cjk-arabic", "日本語 中文 한국어 العربية"),
    Payload("line-separators", "a\u2028b\u2029c\u0085d"),
    Payload("newlines-tabs", "line one\r\nline two\n\ttabbed"),
    Payload("backslashes", "\\\\ \\n \\u0000 \\ud800"),
    Payload("spaces-around", "  padded  "),
    # refused or stored, never a 500
    Payload("nul", "before\x00after", must_store=False),
    Payload("controls", "bell\x07 escape\x1b[31m del\x7f", must_store=False),
    Payload("lone-high-surrogate", "high \ud800 alone", must_store=False),
    Payload("lone-low-surrogate", "\udfff", must_store=False),
    Payload("slash", "a/b", must_store=False),
    Payload("empty", "", must_store=False),
    Payload("blank", " \t ", must_store=False),
    Payload("long-1001", "y" * 1001, must_store=False),
    Payload("megabyte", MEGABYTE, must_store=False),
]
