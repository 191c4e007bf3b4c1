"""Replay a labelled login log (the public RBA dataset's CSV format) through the engine.

Each row becomes a password sign-in evaluated against the history built from the rows
before it, then recorded with the row's outcome. Rows must be ordered by timestamp.
Country, region, city and ASN come from the CSV (no GeoIP database is needed); latitude
and longitude are unknown, so unlikelyTravel reports "cannot evaluate" for every row.
Configured IP lists still apply. Recorded outcomes are the log's, not what a policy would
have done: a takeover that policy would have stopped is still learned as history.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from risk.context import IpInfo, SignInContext, SignInKind
from risk.engine import RiskEngine
from risk.errors import RiskError
from risk.feeds import Feeds
from risk.levels import Level
from risk.netutil import is_non_public, normalize_ip
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
THRESHOLDS = (Level.LOW, Level.MEDIUM, Level.HIGH)


class ReplayError(RiskError):
    """The replayed file is not a readable, ordered RBA-format CSV."""


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """What stepping up at `level` and above would have caught and cost."""

    level: Level
    takeovers_caught: int
    attack_ip_caught: int
    legitimate_stepped_up: int


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

    def at(self, level: Level) -> ThresholdResult:
        """The result for stepping up at `level`."""
        for result in self.thresholds:
            if result.level is level:
                return result
        raise KeyError(level)


def _flag(value: str, line: int, column: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ReplayError(f"line {line}: {column} must be True or False, got {value!r}")


def _time(value: str, line: int) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ReplayError(f"line {line}: Login Timestamp {value!r} is not a timestamp") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _ip_info(row: Mapping[str, str], ip: str, line: int) -> IpInfo:
    asn_text = (row["ASN"] or "").strip()
    try:
        asn = int(float(asn_text)) if asn_text else None
    except ValueError:
        raise ReplayError(f"line {line}: ASN {asn_text!r} is not a number") from None

    def text(column: str) -> str | None:
        value = (row[column] or "").strip()
        return value if value and value != "-" else None

    return IpInfo(
        ip=ip,
        country=text("Country"),
        region=text("Region"),
        city=text("City"),
        asn=asn,
        is_private=is_non_public(ip),
    )


class _RowClock:
    """The replay's clock: the time of the row being evaluated."""

    def __init__(self) -> None:
        self.now = datetime(1970, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def replay_rows(
    rows: Iterable[Mapping[str, str]], settings: RiskSettings, feeds: Feeds | None = None
) -> ReplayReport:
    """Replay already-parsed CSV rows (dicts keyed by RBA_COLUMNS) and count the outcome."""
    clock = _RowClock()
    engine = RiskEngine(settings, feeds or Feeds(), InMemoryHistoryRepository(), clock=clock)
    total = takeovers = attacks = legitimate = 0
    caught_takeovers: Counter[Level] = Counter()
    caught_attacks: Counter[Level] = Counter()
    stepped_up: Counter[Level] = Counter()
    levels: Counter[Level] = Counter()
    detections: Counter[str] = Counter()
    not_evaluated: Counter[str] = Counter()
    previous = None
    for line, row in enumerate(rows, start=2):
        # csv.DictReader fills a short row's missing columns with None.
        missing = [column for column in RBA_COLUMNS if row.get(column) is None]
        if missing:
            raise ReplayError(f"line {line}: missing fields: {', '.join(missing)}")
        when = _time(row["Login Timestamp"], line)
        if previous is not None and when < previous:
            raise ReplayError(f"line {line}: rows must be ordered by Login Timestamp")
        previous = clock.now = when
        try:
            ip = normalize_ip(row["IP Address"])
        except ValueError:
            raise ReplayError(f"line {line}: {row['IP Address']!r} is not an IP address") from None
        succeeded = _flag(row["Login Successful"], line, "Login Successful")
        is_attack = _flag(row["Is Attack IP"], line, "Is Attack IP")
        is_takeover = _flag(row["Is Account Takeover"], line, "Is Account Takeover")
        user = row["User ID"].strip()
        ctx = SignInContext(
            correlation_id=f"replay-{line}",
            time=when,
            ip=ip,
            user_agent=row["User Agent String"] or "",
            client_id="replay",
            username=user,
            user_id=user,
            kind=SignInKind.PASSWORD,
            password_valid=succeeded,
            ip_info=_ip_info(row, ip, line),
        )
        assessment = engine.evaluate(ctx)
        engine.repository.record(ctx, assessment.ip_info, assessment, succeeded)
        level = assessment.sign_in_risk_level
        total += 1
        levels[level] += 1
        detections.update(assessment.risk_event_types)
        not_evaluated.update(n.detector for n in assessment.not_evaluated)
        flagged = [t for t in THRESHOLDS if level >= t]
        if is_takeover:
            takeovers += 1
            caught_takeovers.update(flagged)
        if is_attack:
            attacks += 1
            caught_attacks.update(flagged)
        if succeeded and not is_attack and not is_takeover:
            legitimate += 1
            stepped_up.update(flagged)
    return ReplayReport(
        rows=total,
        takeovers=takeovers,
        attack_ip_logins=attacks,
        legitimate_logins=legitimate,
        thresholds=tuple(
            ThresholdResult(t, caught_takeovers[t], caught_attacks[t], stepped_up[t])
            for t in THRESHOLDS
        ),
        level_counts=tuple((lvl, levels[lvl]) for lvl in (Level.NONE, *THRESHOLDS)),
        detection_counts=tuple(sorted(detections.items())),
        not_evaluated_counts=tuple(sorted(not_evaluated.items())),
    )


def replay(path: str | os.PathLike[str], settings: RiskSettings) -> ReplayReport:
    """Replay the RBA-format CSV at `path` with `settings`; ReplayError if it is malformed."""
    with Feeds.load(settings) as feeds:
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in RBA_COLUMNS if c not in (reader.fieldnames or ())]
                if missing:
                    raise ReplayError(f"{path}: missing columns: {', '.join(missing)}")
                return replay_rows(reader, settings, feeds)
        except OSError as exc:
            raise ReplayError(f"{path}: {exc.strerror or type(exc).__name__}") from exc
        except ReplayError as exc:
            if str(exc).startswith(str(path)):
                raise
            raise ReplayError(f"{path}: {exc}") from exc


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def format_report(report: ReplayReport) -> str:
    """The report as a printable table: recall and false-positive rate per threshold."""
    lines = [
        f"{report.rows:,} sign-ins replayed: {report.takeovers:,} account takeovers, "
        f"{report.attack_ip_logins:,} from attack IPs, "
        f"{report.legitimate_logins:,} legitimate successful",
        "",
        "step up at  takeovers caught    attack-IP caught    legitimate stepped up",
    ]
    for result in report.thresholds:
        cells = (
            (result.takeovers_caught, report.takeovers),
            (result.attack_ip_caught, report.attack_ip_logins),
            (result.legitimate_stepped_up, report.legitimate_logins),
        )
        row = "    ".join(f"{part:>7,} {_rate(part, whole)}" for part, whole in cells)
        lines.append(f"{result.level.value + '+':<10}  {row}")
    lines += [
        "",
        "sign-in risk levels: " + ", ".join(f"{lvl.value} {n:,}" for lvl, n in report.level_counts),
    ]
    if report.detection_counts:
        lines.append("detections: " + ", ".join(f"{k} {n:,}" for k, n in report.detection_counts))
    if report.not_evaluated_counts:
        lines.append(
            "not evaluated: " + ", ".join(f"{k} {n:,}" for k, n in report.not_evaluated_counts)
        )
    return "\n".join(lines)
