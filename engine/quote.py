"""Untrusted text made safe to show: in an error message, a log line or on a terminal.

Listing fields, ids, callers and request ids come from sellers and clients. Shown raw, a 2 MB
value becomes a 2 MB log line, and an escape sequence or a bidirectional override rewrites what
an operator sees (a blocked row printed as "allow"). Every such value goes through `quote` (in
messages: short, in quotes) or `escape` (in listings of ids and evidence: whole, but with every
character that is not plainly visible written as a Python escape).
"""

from __future__ import annotations

import re

#: Characters of untrusted text quoted in a message before it is cut.
QUOTE_LIMIT = 40

# Everything str.isprintable() refuses except the plain space, i.e. controls (C0, C1), format
# characters (bidi overrides and isolates, zero-width characters), separators other than the
# space, surrogates, private-use and unassigned code points; and the backslash, so that an
# escape in the output always means an escaped character.
_SHORT = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_HIDDEN = re.compile(r"[^ \S]|[\\\x00-\x1f\x7f-\xa0\xad]|[^\x00-\xff]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: str) -> str:
    """`text` with every character that does not plainly show itself escaped (`\\x1b`, `\\u202e`)."""
    if text.isprintable() and "\\" not in text:
        return text
    return _HIDDEN.sub(_escape_char, text)


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` escaped and cut to `limit` characters of the original, saying how long it was."""
    if len(text) <= limit:
        return escape(text)
    return f"{escape(text[:limit])}… ({len(text):,} characters)"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`value` for an error message: in quotes, escaped, at most `limit` characters of it."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return f"'{escape(text)}'"
    return f"'{escape(text[:limit])}'… ({len(text):,} characters)"


def escape_json(rendered: str) -> str:
    """JSON text with the characters `escape` would escape written as JSON `\\u` escapes (a
    terminal must not act on them; the JSON means the same)."""
    if rendered.isprintable():
        return rendered
    return re.sub(r"[^\n \S]|[\x00-\x09\x0b-\x1f\x7f-\xa0\xad]|[^\x00-\xff]", _json_escape, rendered)


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
