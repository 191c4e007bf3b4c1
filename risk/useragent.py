"""A small, dependency-free user-agent parser for browser and OS family (not version)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

OTHER = "Other"

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari", and every
# iOS browser is WebKit underneath but names itself with its own token.
_BROWSERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Edge", ("edg/", "edge/", "edga/", "edgios/")),
    ("Opera", ("opr/", "opera", "opios/", "opt/")),
    ("Samsung Internet", ("samsungbrowser/",)),
    ("Firefox", ("firefox/", "fxios/")),
    ("Chrome", ("chrome/", "crios/", "chromium/")),
    ("Safari", ("safari/",)),
)

_SYSTEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Windows", ("windows nt", "windows phone", "win64", "win32")),
    ("iOS", ("iphone", "ipad", "ipod")),
    ("ChromeOS", ("cros ",)),
    ("Android", ("android",)),
    ("macOS", ("macintosh", "mac os x")),
    ("Linux", ("linux", "x11")),
)


@dataclass(frozen=True, slots=True)
class UserAgent:
    """The families a user-agent string names; "Other" when it names none we know."""

    browser_family: str
    os_family: str


def _first(text: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    for family, tokens in table:
        if any(token in text for token in tokens):
            return family
    return OTHER


@lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> UserAgent:
    """The browser family (Chrome, Edge, Firefox, Safari, Opera ...) and OS family of a UA."""
    text = user_agent.lower()
    browser = _first(text, _BROWSERS)
    # Safari's token alone is not enough: in-app web views and bots carry it too.
    if browser == "Safari" and "version/" not in text:
        browser = OTHER
    return UserAgent(browser, _first(text, _SYSTEMS))
