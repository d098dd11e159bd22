"""Numbers as each language writes them: vi-VN groups thousands with "." and uses ","
as the decimal mark (1.525.644; 98,72%). Shared by the wall and the alert messages."""

from __future__ import annotations


def localize(text: str, lang: str) -> str:
    """A number formatted by Python ('1,234.5', '98.72%') as `lang` writes it."""
    if lang != "vi":
        return text
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")
