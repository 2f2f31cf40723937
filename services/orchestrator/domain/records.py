"""DNS names and record contents in the presentation format PowerDNS stores and answers with, so
what we write and what we read back compare equal. Pure: no I/O."""

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class RRSet:
    """All records of one name and type."""

    name: str
    type: str
    ttl: int
    contents: tuple[str, ...]


def absolute(name: str) -> str:
    """`Mastodon.Example.org` -> `mastodon.example.org.` (names are always taken as fully qualified)."""
    return name.strip().lower().rstrip(".") + "."


def record_content(rtype: str, content: str) -> str:
    """One record's content as PowerDNS wants it: MX/CNAME targets absolute, TXT quoted and split into
    255-byte strings, addresses in canonical form. A TXT content already in quotes is taken as it is;
    anything unparseable is passed on for PowerDNS to refuse with its reason."""
    rtype = rtype.upper()
    if rtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(content.strip()))
        except ValueError:
            return content
    if rtype in ("CNAME", "NS"):
        return absolute(content)
    if rtype == "MX":
        priority, _, target = content.strip().partition(" ")
        return f"{priority} {absolute(target)}" if priority.isdigit() and target.strip() else content
    if rtype == "TXT":
        return content if content.startswith('"') else quote_txt(content)
    return content


def quote_txt(text: str) -> str:
    """Text as DNS character-strings: at most 255 bytes each, `"` and `\\` escaped, other bytes
    outside printable ASCII as `\\DDD` (the way PowerDNS prints them back)."""
    data = text.encode()
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + "".join(map(_escaped, chunk)) + '"' for chunk in chunks)


def _escaped(byte: int) -> str:
    if byte in (0x22, 0x5C):
        return "\\" + chr(byte)
    return chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03d}"
