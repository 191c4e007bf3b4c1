"""Replay a labelled login log (the public RBA dataset's CSV format) through the engine.

Each row becomes a password sign-in evaluated against the history built from the rows
before it, then recorded with the row's outcome (`Login Successful`, which says whether the
password was right, as it is known before risk is evaluated). Rows must be ordered by
timestamp (ISO 8601, UTC unless an offset is given, or seconds or milliseconds since
1970). The labels `Is Attack IP` and `Is Account Takeover` are read only after a row is
scored, to count what each level would have caught; they never reach the engine.

What the engine knows about each IP:

- Country, region, city and ASN come from the CSV; no GeoIP database is needed.
- Latitude and longitude, which unlikelyTravel needs, come from a cities file
  (`load_cities`, accuracy radius `CITY_ACCURACY_RADIUS_KM`) for the places it lists, else
  from the configured GeoIP databases (`geoip_city_db`) when their country agrees with the
  row's. Without either, unlikelyTravel cannot evaluate any row.
- Configured GeoIP databases also fill in what the CSV lacks (place, ASN and its
  organisation, the Anonymous-IP flags); configured IP lists apply as in the server.
- An optional `Device ID` column is the device cookie; without it no sign-in has one.

Whether a row becomes history is the log's outcome as the policy leaves it: a blocked row
never does, a stepped-up one only if its second factor was answered (`SECOND_FACTOR_COLUMN`).
A log that does not say is taken as answered, so a takeover the policy would have stopped
is still learned by its victim's profile, though its network counts for other users only
after `UNCONFIRMED_KEPT_DAYS`.
"""

from __future__ import annotations

import csv
import math
import os
import re
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO

from risk.assessment import Assessment
from risk.context import IpInfo, SignInContext, SignInKind
from risk.engine import RiskEngine
from risk.errors import RiskError
from risk.feeds import MMDB_KEYS, Feeds
from risk.levels import Level
from risk.netutil import is_non_public, normalize_ip
from risk.novelty import plural
from risk.repository import InMemoryHistoryRepository
from risk.settings import RiskSettings

RBA_COLUMNS = (
    "Login Timestamp",
    "User ID",
    "IP Address",
    "Country",
    "Region",
    "City",
    "ASN",
    "User Agent String",
    "Browser Name and Version",
    "OS Name and Version",
    "Device Type",
    "Login Successful",
    "Is Attack IP",
    "Is Account Takeover",
)
LABEL_COLUMNS = ("Is Attack IP", "Is Account Takeover")
"""The labels: read after a row is scored, to count results; never part of the sign-in."""
DEVICE_COLUMN = "Device ID"
"""Optional column: a non-empty value is the sign-in's device cookie."""
SECOND_FACTOR_COLUMN = "Second Factor Passed"
"""Optional column: whether the person would answer a second factor. Read after the row is
scored (a malformed value stops the replay on any row) and used only when the row was
stepped up: as in the server, a stepped-up sign-in becomes history once the second factor
is answered, and never when it is not (False). Empty
or absent, the second factor is taken as answered, so that a log without the column (the
RBA dataset has none) learns every sign-in whose password was right; but what such a
sign-in brings new counts as kept, for other users, only after `UNCONFIRMED_KEPT_DAYS`."""
UNCONFIRMED_KEPT_DAYS = 7.0
"""Days a user must keep a network first learned at a step-up the log does not say was
answered before other users' sign-ins count them as keeping it (instead of
`novelty_org_network_kept_days`; at 0 every use counts, confirmed or not). Taking every
step-up as answered lets an attacker the server would have stopped teach the victim's
profile; that is the victim's own business, but after an episode of two days the
attacker's exit would count as a network colleagues keep, and weigh nothing in the next
takeover from it. A network someone here really uses is kept for weeks."""
LEVELS_HEADER = ("row", "level", "events")
CITY_COLUMNS = ("country", "region", "city", "latitude", "longitude")
CITY_ACCURACY_RADIUS_KM = 25.0
"""The accuracy radius of coordinates from a cities file: roughly a city's extent, so
that sign-ins across one metropolitan area never count as travel."""
THRESHOLDS = (Level.LOW, Level.MEDIUM, Level.HIGH)
REPORT_WIDTH = 100

Row = Mapping[str, str | None]
"""One parsed CSV row; csv.DictReader gives None for a short row's missing fields."""


class ReplayError(RiskError):
    """A replayed file (log, cities or levels output) is unreadable or malformed."""


@dataclass(frozen=True, slots=True)
class ScoredRow:
    """One replayed row: the engine's assessment, then the outcome and labels read after it."""

    row: int
    """The 1-based number of the data row (the header is not counted)."""
    user: str
    assessment: Assessment
    succeeded: bool
    is_attack_ip: bool
    is_takeover: bool
    learned: bool
    """Whether the row became history: a success the policy neither blocked nor stepped up
    without an answered second factor (always False for a failed sign-in)."""

    @property
    def level(self) -> Level:
        """The sign-in risk level."""
        return self.assessment.sign_in_risk_level

    @property
    def events(self) -> tuple[str, ...]:
        """The riskEventTypes of every detection, in detector order."""
        return self.assessment.risk_event_types


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """What stepping up at `level` and above would have caught and cost."""

    level: Level
    takeovers_caught: int
    attack_ip_caught: int
    legitimate_stepped_up: int
    episodes_caught: int
    """Takeover episodes whose first sign-in was at `level` or above."""
    failed_attacks_flagged: int
    """Failed sign-ins from attack IPs at `level` or above."""


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """Counts from one replay; rates are derived by the properties."""

    rows: int
    takeovers: int
    attack_ip_logins: int
    legitimate_logins: int
    thresholds: tuple[ThresholdResult, ...]
    level_counts: tuple[tuple[Level, int], ...]
    detection_counts: tuple[tuple[str, int], ...]
    not_evaluated_counts: tuple[tuple[str, int], ...]
    takeover_episodes: int = 0
    """Runs of one user's consecutive takeover rows (another user's rows in between do not
    end a run; that user's own non-takeover row does)."""
    failed_attack_attempts: int = 0
    """Rows from an attack IP whose sign-in failed."""
    elapsed_seconds: float = 0.0
    """Wall-clock time of the pass that read, scored and counted the rows."""
    not_learned: int = 0
    """Successful sign-ins that did not become history: blocked, or stepped up and the
    second factor not answered (SECOND_FACTOR_COLUMN)."""
    out_of_order: int = 0
    """Rows of the file earlier, by Login Timestamp, than the row before them (`replay`
    replays such a file in time order)."""

    def at(self, level: Level) -> ThresholdResult:
        """The result for stepping up at `level`."""
        for result in self.thresholds:
            if result.level is level:
                return result
        raise KeyError(level)

    @property
    def rows_per_second(self) -> float | None:
        """Replay throughput; None when the pass took no measurable time."""
        return self.rows / self.elapsed_seconds if self.elapsed_seconds > 0 else None


def _flag(value: str | None, line: int, column: str) -> bool:
    text = (value or "").strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ReplayError(f"line {line}: {column} must be True or False, got {value!r}")


EPOCH_MILLISECONDS_FROM = 100_000_000_000
"""A Login Timestamp that is a plain number counts seconds since 1970 (UTC), or milliseconds
from this value on (as many seconds would be the year 5138)."""

_EPOCH = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_AS_NUMBER = re.compile(r"(?:AS)?([0-9]{1,10})(?:\.0+)?", re.IGNORECASE)
AS_NUMBER_MAX = 2**32 - 1


def _time(value: str, line: int) -> datetime:
    text = value.strip()
    try:
        if _EPOCH.fullmatch(text):
            number = float(text)
            seconds = number / 1000 if number >= EPOCH_MILLISECONDS_FROM else number
            return datetime.fromtimestamp(seconds, UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise ReplayError(f"line {line}: Login Timestamp {value!r} is not a timestamp") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: str | None) -> str | None:
    """A place or ASN cell's text; empty and "-" (the RBA dataset's unknown) are None."""
    text = (value or "").strip()
    return text if text and text != "-" else None


def _asn(text: str | None, line: int) -> int | None:
    """The row's AS number: 64500, AS64500, or 64500.0 as a spreadsheet writes it; None
    when unknown (`_text`'s None: empty or "-", as for places)."""
    if text is None:
        return None
    found = _AS_NUMBER.fullmatch(text)
    if found is None or int(found[1]) > AS_NUMBER_MAX:
        raise ReplayError(f"line {line}: ASN {text!r} is not an AS number")
    return int(found[1])


def _csv_ip_info(row: Row, ip: str, line: int) -> IpInfo:
    asn = _asn(_text(row["ASN"]), line)
    return IpInfo(
        ip=ip,
        country=_text(row["Country"]),
        region=_text(row["Region"]),
        city=_text(row["City"]),
        asn=asn,
        is_private=is_non_public(ip),
    )


def _with_geoip(row: IpInfo, found: IpInfo) -> IpInfo:
    """The row's place and ASN, completed by the GeoIP record of its IP.

    GeoIP's coordinates (and its region and city) are used only when its country agrees
    with the row's: a point in another country than the log says would invent travel.
    """
    agree = (
        row.country is None
        or found.country is None
        or row.country.casefold() == found.country.casefold()
    )
    own_place = row.region is not None or row.city is not None
    region, city = (row.region, row.city) if own_place or not agree else (found.region, found.city)
    return replace(
        found,
        country=row.country or found.country,
        region=region,
        city=city,
        latitude=found.latitude if agree else None,
        longitude=found.longitude if agree else None,
        accuracy_radius_km=found.accuracy_radius_km if agree else None,
        asn=row.asn if row.asn is not None else found.asn,
        asn_org=found.asn_org if row.asn in (None, found.asn) else None,
        is_private=row.is_private or found.is_private,
    )


def _place_key(value: str | None) -> str:
    return (_text(value) or "").casefold()


class CityCoordinates:
    """Latitude and longitude by place, as a cities file lists them (see `load_cities`)."""

    def __init__(self, places: Mapping[tuple[str, str, str], tuple[float, float]]) -> None:
        self._exact = {
            (_place_key(country), _place_key(region), _place_key(city)): point
            for (country, region, city), point in places.items()
        }
        regions: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
        for (country, region, city), point in self._exact.items():
            regions.setdefault((country, city), {})[region] = point
        # A city listed under several regions and never without one matches only with its
        # region: falling back would mean guessing which Springfield.
        self._by_city = {
            key: found[""] if "" in found else next(iter(found.values()))
            for key, found in regions.items()
            if "" in found or len(found) == 1
        }

    def __len__(self) -> int:
        return len(self._exact)

    def find(
        self, country: str | None, region: str | None, city: str | None
    ) -> tuple[float, float] | None:
        """(latitude, longitude) of the place: by country, region and city, else by
        country and city alone; None when unlisted or ambiguous."""
        country_key, city_key = _place_key(country), _place_key(city)
        if not country_key or not city_key:
            return None
        exact = self._exact.get((country_key, _place_key(region), city_key))
        return exact if exact is not None else self._by_city.get((country_key, city_key))


def _coordinate(row: Mapping[str, str | None], column: str, limit: float, line: int) -> float:
    text = (row[column] or "").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not -limit <= value <= limit:  # NaN fails both comparisons
        raise ReplayError(
            f"line {line}: {column} {text!r} is not a number from -{limit:g} to {limit:g}"
        )
    return value


def _city_rows(
    reader: csv.DictReader[str],
) -> Iterator[tuple[int, tuple[str, str, str], tuple[float, float]]]:
    for row in reader:
        line = reader.line_num
        missing = [column for column in CITY_COLUMNS if row.get(column) is None]
        if missing:
            raise ReplayError(f"line {line}: missing fields: {', '.join(missing)}")
        key = (_place_key(row["country"]), _place_key(row["region"]), _place_key(row["city"]))
        if not key[0] or not key[2]:
            raise ReplayError(f"line {line}: country and city must not be empty")
        point = (_coordinate(row, "latitude", 90, line), _coordinate(row, "longitude", 180, line))
        yield line, key, point


def load_cities(path: str | os.PathLike[str]) -> CityCoordinates:
    """Read a cities file, a CSV with header `country,region,city,latitude,longitude`.

    Region may be empty. A place listed twice with different coordinates, like any other
    malformed content, is a ReplayError of one line naming the file and the line.
    """
    places: dict[tuple[str, str, str], tuple[float, float]] = {}
    first_line: dict[tuple[str, str, str], int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in CITY_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ReplayError(f"missing columns: {', '.join(missing)}")
            for line, key, point in _city_rows(reader):
                if places.setdefault(key, point) != point:
                    raise ReplayError(
                        f"line {line}: {', '.join(k for k in key if k)} is listed on line "
                        f"{first_line[key]} with other coordinates"
                    )
                first_line.setdefault(key, line)
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror or type(exc).__name__}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path}: not a readable UTF-8 CSV file: {exc}") from exc
    except ReplayError as exc:
        raise ReplayError(f"{path}: {exc}") from exc
    return CityCoordinates(places)


class _RowClock:
    """The replay's clock: the time of the row being evaluated."""

    def __init__(self) -> None:
        self.now = datetime(1970, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _sign_in(
    row: Row, line: int, geoip: Feeds | None, cities: CityCoordinates | None
) -> SignInContext:
    """The sign-in a row describes, built without reading any label column."""
    when = _time(row["Login Timestamp"] or "", line)
    try:
        ip = normalize_ip(row["IP Address"] or "")
    except ValueError:
        raise ReplayError(f"line {line}: {row['IP Address']!r} is not an IP address") from None
    # Whether the password was right is known before risk is evaluated, as in the server.
    password_valid = _flag(row["Login Successful"], line, "Login Successful")
    info = _csv_ip_info(row, ip, line)
    if geoip is not None:
        info = _with_geoip(info, geoip.lookup(ip))
    if cities is not None:
        point = cities.find(info.country, info.region, info.city)
        if point is not None:
            info = replace(
                info,
                latitude=point[0],
                longitude=point[1],
                accuracy_radius_km=CITY_ACCURACY_RADIUS_KM,
            )
    user = (row["User ID"] or "").strip()
    return SignInContext(
        correlation_id=f"replay-{line}",
        time=when,
        ip=ip,
        user_agent=row["User Agent String"] or "",
        client_id="replay",
        username=user,
        user_id=user,
        kind=SignInKind.PASSWORD,
        password_valid=password_valid,
        device_id=(row.get(DEVICE_COLUMN) or "").strip() or None,
        ip_info=info,
    )


def _reaches(level: Level, bar: Level | None) -> bool:
    return bar is not None and level.rank >= bar.rank


def _answered(row: Row, line: int) -> bool | None:
    """SECOND_FACTOR_COLUMN, None where the log does not say; checked on every row."""
    value = (row.get(SECOND_FACTOR_COLUMN) or "").strip()
    return _flag(value, line, SECOND_FACTOR_COLUMN) if value else None


def _learned(
    level: Level, answered: bool, step_up_at: Level | None, block_at: Level | None
) -> bool:
    """Whether a successful sign-in becomes history: unless it was blocked, or stepped up
    and its second factor was not answered."""
    if _reaches(level, block_at):
        return False
    return answered or not _reaches(level, step_up_at)


def _check_fields(row: Row, line: int) -> None:
    missing = [column for column in RBA_COLUMNS if row.get(column) is None]
    if missing:
        raise ReplayError(f"line {line}: missing fields: {', '.join(missing)}")


def _out_of_order(rows: Iterable[Row]) -> int:
    """How many of `rows` come earlier, by Login Timestamp, than the row before them."""
    before: datetime | None = None
    earlier = 0
    for number, row in enumerate(rows, start=1):
        _check_fields(row, number + 1)
        when = _time(row["Login Timestamp"] or "", number + 1)
        earlier += before is not None and when < before
        before = when
    return earlier


def score_rows(
    rows: Iterable[Row],
    settings: RiskSettings,
    feeds: Feeds | None = None,
    *,
    cities: CityCoordinates | None = None,
    step_up_at: Level | None = Level.MEDIUM,
    block_at: Level | None = None,
    numbers: Iterable[int] | None = None,
) -> Iterator[ScoredRow]:
    """Score each row against the rows before it, then learn it; yields one result per row.

    As in the server, a row at or above `block_at` is never learned, and one at or above
    `step_up_at` only if its second factor was answered (SECOND_FACTOR_COLUMN): the sign-in
    risk policy's `block_at` and `mfa_at`, None where the policy blocks or steps up nobody.
    A generator, so a caller can stream a log of any length; ReplayError (naming the line)
    when a row is malformed or out of order. `numbers`: each row's 1-based number in its
    file (1, 2, 3, ... unless given), as results and errors name it.
    """
    feeds = feeds if feeds is not None else Feeds()
    clock = _RowClock()
    history = InMemoryHistoryRepository(unconfirmed_kept_days=UNCONFIRMED_KEPT_DAYS)
    engine = RiskEngine(settings, feeds, history, clock=clock)
    geoip = feeds if any(feeds.is_loaded(key) for key in MMDB_KEYS) else None
    previous: datetime | None = None
    numbered = zip(numbers, rows, strict=True) if numbers is not None else enumerate(rows, start=1)
    for number, row in numbered:
        line = number + 1
        _check_fields(row, line)
        ctx = _sign_in(row, line, geoip, cities)
        if previous is not None and ctx.time < previous:
            raise ReplayError(f"line {line}: rows must be ordered by Login Timestamp")
        previous = clock.now = ctx.time
        assessment = engine.evaluate(ctx)
        succeeded = ctx.password_valid is True
        answered = _answered(row, line)
        level = assessment.sign_in_risk_level
        learned = succeeded and _learned(level, answered is not False, step_up_at, block_at)
        confirmed = answered is not None or not _reaches(level, step_up_at)
        history.record(ctx, assessment.ip_info, assessment, learned, confirmed=confirmed)
        yield ScoredRow(
            row=number,
            user=ctx.username,
            assessment=assessment,
            succeeded=succeeded,
            is_attack_ip=_flag(row[LABEL_COLUMNS[0]], line, LABEL_COLUMNS[0]),
            is_takeover=_flag(row[LABEL_COLUMNS[1]], line, LABEL_COLUMNS[1]),
            learned=learned,
        )


def tally(
    scored: Iterable[ScoredRow], *, timer: Callable[[], float] = time.perf_counter
) -> ReplayReport:
    """Count what each threshold catches over `scored`, timing the pass that yields it."""
    started = timer()
    total = takeovers = attacks = legitimate = episodes = failed_attacks = not_learned = 0
    caught_takeovers: Counter[Level] = Counter()
    caught_attacks: Counter[Level] = Counter()
    stepped_up: Counter[Level] = Counter()
    caught_episodes: Counter[Level] = Counter()
    flagged_failures: Counter[Level] = Counter()
    levels: Counter[Level] = Counter()
    detections: Counter[str] = Counter()
    not_evaluated: Counter[str] = Counter()
    in_episode: set[str] = set()  # users whose latest row was a takeover
    for result in scored:
        level = result.level
        total += 1
        levels[level] += 1
        detections.update(result.events)
        not_evaluated.update(n.detector for n in result.assessment.not_evaluated)
        flagged = [t for t in THRESHOLDS if level >= t]
        if result.is_takeover:
            takeovers += 1
            caught_takeovers.update(flagged)
            if result.user not in in_episode:
                # An episode is caught only if its first sign-in is: later ones are too late.
                in_episode.add(result.user)
                episodes += 1
                caught_episodes.update(flagged)
        else:
            in_episode.discard(result.user)
        if result.is_attack_ip:
            attacks += 1
            caught_attacks.update(flagged)
            if not result.succeeded:
                failed_attacks += 1
                flagged_failures.update(flagged)
        if result.succeeded and not result.is_attack_ip and not result.is_takeover:
            legitimate += 1
            stepped_up.update(flagged)
        if result.succeeded and not result.learned:
            not_learned += 1
    return ReplayReport(
        rows=total,
        takeovers=takeovers,
        attack_ip_logins=attacks,
        legitimate_logins=legitimate,
        thresholds=tuple(
            ThresholdResult(
                t,
                caught_takeovers[t],
                caught_attacks[t],
                stepped_up[t],
                caught_episodes[t],
                flagged_failures[t],
            )
            for t in THRESHOLDS
        ),
        level_counts=tuple((lvl, levels[lvl]) for lvl in (Level.NONE, *THRESHOLDS)),
        detection_counts=tuple(sorted(detections.items())),
        not_evaluated_counts=tuple(sorted(not_evaluated.items())),
        takeover_episodes=episodes,
        failed_attack_attempts=failed_attacks,
        elapsed_seconds=timer() - started,
        not_learned=not_learned,
    )


def replay_rows(
    rows: Iterable[Row],
    settings: RiskSettings,
    feeds: Feeds | None = None,
    *,
    cities: CityCoordinates | None = None,
) -> ReplayReport:
    """Replay already-parsed CSV rows (dicts keyed by RBA_COLUMNS) and count the outcome."""
    return tally(score_rows(rows, settings, feeds, cities=cities))


def write_levels(
    scored: Iterable[ScoredRow], out: IO[str], *, by_row: bool = False
) -> Iterator[ScoredRow]:
    """Pass `scored` through, writing `row,level,events` lines to `out` as each goes by;
    `by_row`: hold them and write them by row number once all have gone by."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LEVELS_HEADER)
    held = []
    for result in scored:
        line = (result.row, result.level.value, ";".join(result.events))
        if by_row:
            held.append(line)
        else:
            writer.writerow(line)
        yield result
    writer.writerows(sorted(held))


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


@contextmanager
def _reading(path: str | os.PathLike[str]) -> Iterator[None]:
    """Name every error from reading the log after its file."""
    try:
        yield
    except ReplayError as exc:
        raise ReplayError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ReplayError(f"{path}: {_reason(exc)}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path}: not a readable UTF-8 CSV file: {exc}") from exc


def _naming_log(path: str | os.PathLike[str], scored: Iterator[ScoredRow]) -> Iterator[ScoredRow]:
    """`scored`, with every error from reading the log named after its file."""
    with _reading(path):
        yield from scored


def _writing_levels(
    name: str | os.PathLike[str], scored: Iterator[ScoredRow], out: IO[str], *, by_row: bool
) -> Iterator[ScoredRow]:
    """`write_levels`, with a failed write named after the output file."""
    try:
        yield from write_levels(scored, out, by_row=by_row)
        out.flush()  # a full disk shows here, not when the file is closed
    except OSError as exc:  # reading errors arrive as ReplayError, named after the log
        raise ReplayError(f"{name}: cannot write: {_reason(exc)}") from exc


def _is_same_file(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def replay(
    path: str | os.PathLike[str],
    settings: RiskSettings,
    *,
    levels_out: str | os.PathLike[str] | None = None,
    cities: str | os.PathLike[str] | None = None,
    step_up_at: Level | None = Level.MEDIUM,
    block_at: Level | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> ReplayReport:
    """Replay the RBA-format CSV at `path`; ReplayError naming the file if one is bad.

    Rows are replayed in Login Timestamp order (rows of the same time in file order): a
    file in that order is streamed, any other is read into memory and sorted first.
    `levels_out` receives one `row,level,events` line per row, in file order, as rows are
    scored (a sorted file's at the end); `cities` is a file for `load_cities`;
    `step_up_at` and `block_at` as for `score_rows`.
    """
    places = load_cities(cities) if cities is not None else None
    with Feeds.load(settings) as feeds, ExitStack() as files:
        try:
            log = files.enter_context(open(path, newline="", encoding="utf-8-sig"))
            reader = csv.DictReader(log)
            missing = [c for c in RBA_COLUMNS if c not in (reader.fieldnames or ())]
        except OSError as exc:
            raise ReplayError(f"{path}: {_reason(exc)}") from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ReplayError(f"{path}: not a readable UTF-8 CSV file: {exc}") from exc
        if missing:
            raise ReplayError(f"{path}: missing columns: {', '.join(missing)}")
        # A log merged from several sources may be out of time order: read it twice, and
        # hold it in memory to replay it in time order only if it is.
        with _reading(path):
            earlier = _out_of_order(reader)
            log.seek(0)
            rows: list[Row] | csv.DictReader[str] = csv.DictReader(log)
            numbers = None
            if earlier:
                listed = list(enumerate(rows, start=1))
                listed.sort(key=lambda pair: _time(pair[1]["Login Timestamp"] or "", pair[0] + 1))
                numbers, rows = [n for n, _ in listed], [row for _, row in listed]
        scored = _naming_log(
            path,
            score_rows(
                rows,
                settings,
                feeds,
                cities=places,
                step_up_at=step_up_at,
                block_at=block_at,
                numbers=numbers,
            ),
        )
        if levels_out is not None:
            for source in (path, cities):
                if source is not None and _is_same_file(levels_out, source):
                    raise ReplayError(
                        f"{levels_out}: is an input of this replay; refusing to overwrite it"
                    )
            try:
                out = files.enter_context(open(levels_out, "w", newline="", encoding="utf-8"))
            except OSError as exc:
                raise ReplayError(f"{levels_out}: cannot write: {_reason(exc)}") from exc
            scored = _writing_levels(levels_out, scored, out, by_row=numbers is not None)
        return replace(tally(scored, timer=timer), out_of_order=earlier)


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def _table(header: str, report: ReplayReport, cells: Callable[[ThresholdResult], str]) -> list[str]:
    return [header] + [f"{r.level.value + '+':<10}  {cells(r)}" for r in report.thresholds]


def _cells(*pairs: tuple[int, int]) -> str:
    return "    ".join(f"{part:>7,} {_rate(part, whole)}" for part, whole in pairs)


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(
        text, REPORT_WIDTH, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False
    )


def format_report(report: ReplayReport) -> str:
    """The report as printable tables: what each threshold catches per sign-in and per
    takeover episode, what it costs legitimate users, and the replay's speed."""
    lines = _wrapped(
        f"{plural(report.rows, 'sign-in')} replayed: "
        f"{plural(report.takeovers, 'account takeover')}, "
        f"{report.attack_ip_logins:,} from attack IPs, "
        f"{report.legitimate_logins:,} legitimate successful"
    )
    lines += [""]
    lines += _table(
        "step up at  takeovers caught    attack-IP caught    legitimate stepped up",
        report,
        lambda r: _cells(
            (r.takeovers_caught, report.takeovers),
            (r.attack_ip_caught, report.attack_ip_logins),
            (r.legitimate_stepped_up, report.legitimate_logins),
        ),
    )
    lines += [""]
    lines += _wrapped(
        f"{plural(report.takeover_episodes, 'takeover episode')} (one user's consecutive takeover "
        "sign-ins; caught if the first one is)"
    )
    lines += _wrapped(f"{plural(report.failed_attack_attempts, 'failed sign-in')} from attack IPs")
    lines += [""]
    lines += _table(
        "step up at  episodes caught     failed attacks flagged",
        report,
        lambda r: _cells(
            (r.episodes_caught, report.takeover_episodes),
            (r.failed_attacks_flagged, report.failed_attack_attempts),
        ),
    )
    lines += [""]
    lines += _wrapped(
        "sign-in risk levels: " + ", ".join(f"{lvl.value} {n:,}" for lvl, n in report.level_counts)
    )
    if report.detection_counts:
        lines += _wrapped(
            "detections: " + ", ".join(f"{k} {n:,}" for k, n in report.detection_counts)
        )
    if report.not_evaluated_counts:
        lines += _wrapped(
            "not evaluated: " + ", ".join(f"{k} {n:,}" for k, n in report.not_evaluated_counts)
        )
    if report.not_learned:
        lines += _wrapped(
            f"not learned: {plural(report.not_learned, 'successful sign-in')} blocked, or "
            "stepped up without the second factor answered"
        )
    if report.out_of_order:
        lines += _wrapped(
            f"out of time order: {plural(report.out_of_order, 'row')} earlier than the row "
            f"before {'it' if report.out_of_order == 1 else 'them'}; replayed in Login "
            "Timestamp order, row numbers as in the file"
        )
    speed = report.rows_per_second
    lines.append(
        f"replay speed: {report.rows:,} rows in {report.elapsed_seconds:.2f} s"
        + (f", {speed:,.0f} rows per second" if speed is not None else "")
    )
    return "\n".join(lines)
