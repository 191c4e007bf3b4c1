"""Great-circle distance and the travel-speed arithmetic used by unlikelyTravel."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088
MIN_ELAPSED_MINUTES = 1.0
"""Elapsed times under a minute count as one, since workers' clocks differ by seconds."""


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance between two points, in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def speed_kmh(distance: float, elapsed_minutes: float) -> float:
    """Speed in km/h to cover `distance` km in `elapsed_minutes` (at least one minute)."""
    hours = max(elapsed_minutes, MIN_ELAPSED_MINUTES) / 60.0
    return distance / hours
