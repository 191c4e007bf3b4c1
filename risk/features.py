"""The sign-in properties unfamiliarFeatures learns per user."""

from __future__ import annotations

from enum import StrEnum

from risk.context import IpInfo, SignInContext
from risk.netutil import subnet_of
from risk.useragent import parse_user_agent


class FeatureKind(StrEnum):
    """A kind of sign-in property; stored with its value as a `(kind, value)` pair."""

    ASN = "asn"
    COUNTRY = "country"
    CITY = "city"
    SUBNET = "subnet"
    BROWSER = "browser"
    OS = "os"
    DEVICE = "device"


Feature = tuple[str, str]
"""A `(FeatureKind value, property value)` pair, plain strings so SQL can store it as is."""


def sign_in_features(ctx: SignInContext, ip_info: IpInfo) -> frozenset[Feature]:
    """Every property of this sign-in that is known; unknown ones are left out, not guessed."""
    agent = parse_user_agent(ctx.user_agent)
    found: set[Feature] = {
        (FeatureKind.SUBNET.value, subnet_of(ip_info.ip)),
        (FeatureKind.BROWSER.value, agent.browser_family),
        (FeatureKind.OS.value, agent.os_family),
    }
    if ip_info.asn is not None:
        found.add((FeatureKind.ASN.value, str(ip_info.asn)))
    if ip_info.country:
        found.add((FeatureKind.COUNTRY.value, ip_info.country))
        if ip_info.city:
            # The country keeps two Springfields apart.
            found.add((FeatureKind.CITY.value, f"{ip_info.city}, {ip_info.country}"))
    if ctx.device_id:
        found.add((FeatureKind.DEVICE.value, ctx.device_id))
    return frozenset(found)
