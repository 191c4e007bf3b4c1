from __future__ import annotations

import pytest

from risk.useragent import parse_user_agent

CASES = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Chrome",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
        "Edge",
        "Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Safari/605.1.15",
        "Safari",
        "macOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Safari",
        "iOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        "Chrome",
        "iOS",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Mobile Safari/537.36",
        "Chrome",
        "Android",
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox", "Linux"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox",
        "macOS",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/123.0.0.0 Safari/537.36 OPR/109.0.0.0",
        "Opera",
        "Windows",
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Chrome",
        "ChromeOS",
    ),
    ("python-requests/2.31.0", "Other", "Other"),
    ("", "Other", "Other"),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148",
        "Other",
        "iOS",
    ),
]


@pytest.mark.parametrize(
    ("agent", "browser", "system"),
    CASES,
    ids=[
        "chrome-windows",
        "edge-windows",
        "safari-macos",
        "safari-ios",
        "chrome-ios",
        "chrome-android",
        "firefox-linux",
        "firefox-macos",
        "opera-windows",
        "chrome-chromeos",
        "script",
        "empty",
        "ios-webview",
    ],
)
def test_families(agent: str, browser: str, system: str) -> None:
    parsed = parse_user_agent(agent)
    assert (parsed.browser_family, parsed.os_family) == (browser, system)
