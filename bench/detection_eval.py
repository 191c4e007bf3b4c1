"""Measure the risk engine's detection quality on synthetic RBA-format logs, against Freeman et al.

    python bench/detection_eval.py [--seeds 1,2,3] [--holdout] [--logins 250000]
        [--variant standard|hard|calm|calm-hard] [--device-ids] [--second-factor]
        [--config CFG.toml] [--cache-dir DIR]

For each seed, bench/rba_synth.py generates a labelled log (cached in the temp directory,
keyed by seed, size, variant and the generator's source). The engine sees a copy with the
labels blanked and the harness-only columns dropped, replayed through the product's CLI:
`idp risk replay COPY.csv --config CFG --levels-out LEVELS.csv` (a config holding just
`[risk]` unless --config is given). The labels (`Is Attack IP`, `Is Account Takeover`,
`Attack Kind`, `Episode`) are read only here, for counting:

- legitimate: successful logins that are neither from an attacker nor a takeover; the
  cost is the share of them stepped up.
- episodes: a takeover episode is caught when its first successful attacker login is
  stepped up (what follows would happen after a step-up the attacker failed); counted
  overall and per kind (naive, vpn, targeted). Stuffing hits count as naive episodes.
- failed stuffing attempts flagged, separately: they cannot take an account over, but
  flagging them feeds lockouts and alerts.
- Freeman et al. (bench/freeman.py) at the same legitimate step-up rate as the engine at
  medium+: its threshold is the quantile of the legitimate logins' scores, ties at the
  threshold broken in expectation so that the rates are exactly equal.

Targets, at medium+, per dataset: at least 90% of episodes and 80% of targeted episodes
caught, at most 0.3% of legitimate logins stepped up, and more episodes caught than Freeman
at equal rate.

Seeds 1, 2 and 3 are for tuning. Seed 4242 is held out: it runs only with --holdout, and
nobody may tune the engine, its settings, the generator or this harness on what it shows.
Run it rarely (before a release, say), report the numbers as they come, and if they
disappoint, improve the engine on the tuning seeds and new ideas, never on seed 4242.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import freeman
import rba_synth

from risk.levels import Level
from risk.replay import RBA_COLUMNS, SECOND_FACTOR_COLUMN

TUNING_SEEDS = (1, 2, 3)
HOLDOUT_SEED = 4242
LEVELS = (Level.LOW, Level.MEDIUM, Level.HIGH)
KINDS = rba_synth.TAKEOVER_KINDS
LABEL_COLUMNS = ("Is Attack IP", "Is Account Takeover")
LEVELS_HEADER = ["row", "level", "events"]
TARGET_EPISODES = 0.90
TARGET_TARGETED = 0.80
TARGET_LEGITIMATE = 0.003


class EvalError(Exception):
    """A dataset, levels file or replay run the harness cannot use."""


@dataclass(frozen=True, slots=True)
class Labels:
    """What the harness counts, by 0-based row index."""

    rows: int
    legitimate: tuple[int, ...]
    stuffing_failed: tuple[int, ...]
    episodes: tuple[tuple[str, str, int], ...]
    """(episode, kind, row of its first successful attacker login)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """`part` of `whole`; `part` is fractional only for Freeman's tie-breaking."""

    part: float
    whole: int

    @property
    def share(self) -> float | None:
        """part / whole, or None when there is nothing to count."""
        return self.part / self.whole if self.whole else None

    def percent(self, digits: int = 1) -> str:
        """The share as a percentage, "-" when there is nothing to count."""
        share = self.share
        return "-" if share is None else f"{share * 100:.{digits}f}%"


@dataclass(frozen=True, slots=True)
class LevelResult:
    """What stepping up at `level` and above catches and costs."""

    level: Level
    legitimate: Rate
    episodes: Rate
    by_kind: tuple[tuple[str, Rate], ...]
    stuffing_flagged: Rate

    def kind(self, name: str) -> Rate:
        """The catch rate for one kind of episode."""
        return dict(self.by_kind)[name]


@dataclass(frozen=True, slots=True)
class FreemanResult:
    """Freeman et al. at a given legitimate step-up rate."""

    threshold: float
    legitimate: Rate
    episodes: Rate
    by_kind: tuple[tuple[str, Rate], ...]


@dataclass(frozen=True, slots=True)
class DatasetResult:
    """One dataset's numbers."""

    name: str
    rows: int
    levels: tuple[LevelResult, ...]
    freeman: FreemanResult
    replay_seconds: float
    freeman_seconds: float
    population: rba_synth.PopulationStats | None = None
    """How new the log's legitimate sign-ins are (rba_synth.population_stats)."""

    def at(self, level: Level) -> LevelResult:
        """The result for stepping up at `level`."""
        return next(result for result in self.levels if result.level is level)


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def read_labels(rows: Iterable[dict[str, str]]) -> Labels:
    """The row sets the metrics count, from a labelled log's rows in file order."""
    legitimate: list[int] = []
    stuffing: list[int] = []
    first: dict[str, tuple[str, int]] = {}
    count = 0
    for index, row in enumerate(rows):
        count += 1
        ok = _true(row["Login Successful"])
        attack, takeover = _true(row["Is Attack IP"]), _true(row["Is Account Takeover"])
        kind = (row.get(rba_synth.ATTACK_KIND_COLUMN) or "").strip()
        if ok and not attack and not takeover:
            legitimate.append(index)
        if kind == rba_synth.STUFFING and not ok:
            stuffing.append(index)
        episode = (row.get(rba_synth.EPISODE_COLUMN) or "").strip()
        if takeover and ok and episode and episode not in first:
            if kind not in KINDS:
                raise EvalError(f"row {index + 1}: episode {episode} has kind {kind!r}")
            first[episode] = (kind, index)
    return Labels(
        count,
        tuple(legitimate),
        tuple(stuffing),
        tuple((episode, kind, index) for episode, (kind, index) in first.items()),
    )


def read_levels(path: str | os.PathLike[str], rows: int) -> list[Level]:
    """Each row's level from a `row,level,events` file, checked against the log's length."""
    levels: list[Level] = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != LEVELS_HEADER:
            raise EvalError(f"{path}: header must be {','.join(LEVELS_HEADER)}, got {header}")
        for line, record in enumerate(reader, start=2):
            try:
                number, level = int(record[0]), Level.parse(record[1])
            except (IndexError, ValueError) as exc:
                raise EvalError(f"{path}, line {line}: {exc}") from None
            if number != len(levels) + 1:
                raise EvalError(
                    f"{path}, line {line}: expected row {len(levels) + 1}, got {number}"
                )
            levels.append(level)
    if len(levels) != rows:
        raise EvalError(f"{path}: {len(levels)} rows, the log has {rows}")
    return levels


def evaluate_levels(labels: Labels, levels: Sequence[Level]) -> tuple[LevelResult, ...]:
    """Step-up cost and catch rates at each of low+, medium+ and high+."""
    results = []
    for threshold in LEVELS:

        def up(index: int, threshold: Level = threshold) -> bool:
            return levels[index].rank >= threshold.rank

        by_kind = tuple(
            (
                kind,
                Rate(
                    sum(up(i) for _, k, i in labels.episodes if k == kind),
                    sum(1 for _, k, _ in labels.episodes if k == kind),
                ),
            )
            for kind in KINDS
        )
        results.append(
            LevelResult(
                threshold,
                Rate(sum(map(up, labels.legitimate)), len(labels.legitimate)),
                Rate(sum(up(i) for _, _, i in labels.episodes), len(labels.episodes)),
                by_kind,
                Rate(sum(map(up, labels.stuffing_failed)), len(labels.stuffing_failed)),
            )
        )
    return tuple(results)


def freeman_at_rate(labels: Labels, scores: Sequence[float], stepped_up: int) -> FreemanResult:
    """Freeman's catch when it steps up exactly `stepped_up` legitimate logins.

    Scores above the threshold are stepped up; those equal to it with the probability that
    makes the legitimate count exact, and episodes are credited with that probability too.
    """
    legit = sorted((scores[i] for i in labels.legitimate), reverse=True)
    if not legit:
        raise EvalError("no legitimate logins to set Freeman's threshold on")
    stepped_up = min(max(stepped_up, 0), len(legit))
    if stepped_up == 0:
        threshold, tie = legit[0], 0.0
    else:
        threshold = legit[stepped_up - 1]
        above = sum(1 for s in legit if s > threshold)
        tied = sum(1 for s in legit if s == threshold)
        tie = (stepped_up - above) / tied

    def caught(index: int) -> float:
        score = scores[index]
        return 1.0 if score > threshold else tie if score == threshold else 0.0

    legitimate = sum(caught(i) for i in labels.legitimate)
    by_kind = tuple(
        (
            kind,
            Rate(
                sum(caught(i) for _, k, i in labels.episodes if k == kind),
                sum(1 for _, k, _ in labels.episodes if k == kind),
            ),
        )
        for kind in KINDS
    )
    return FreemanResult(
        threshold,
        Rate(legitimate, len(labels.legitimate)),
        Rate(sum(caught(i) for _, _, i in labels.episodes), len(labels.episodes)),
        by_kind,
    )


def targets(result: DatasetResult) -> tuple[tuple[str, bool], ...]:
    """Each target at medium+ and whether this dataset meets it."""
    medium = result.at(Level.MEDIUM)
    episodes, targeted = medium.episodes.share, medium.kind("targeted").share
    legitimate, baseline = medium.legitimate.share, result.freeman.episodes.share
    return (
        (
            f"episodes >= {TARGET_EPISODES:.0%}",
            episodes is not None and episodes >= TARGET_EPISODES,
        ),
        (
            f"targeted >= {TARGET_TARGETED:.0%}",
            targeted is not None and targeted >= TARGET_TARGETED,
        ),
        (
            f"legitimate <= {TARGET_LEGITIMATE:.1%}",
            legitimate is not None and legitimate <= TARGET_LEGITIMATE,
        ),
        ("beats Freeman", episodes is not None and baseline is not None and episodes > baseline),
    )


# -- running one dataset --------------------------------------------------------------------


def generator_digest() -> str:
    """A short hash of the generator's source, so a changed generator is not served stale."""
    return hashlib.sha256(Path(rba_synth.__file__).read_bytes()).hexdigest()[:10]


def dataset(
    cache: Path,
    seed: int,
    logins: int,
    variant: str,
    device_ids: bool,
    days: int = rba_synth.DEFAULT_DAYS,
    per_user: float = rba_synth.MEAN_LOGINS_PER_USER,
) -> Path:
    """The labelled log for these parameters, generated unless already cached."""
    suffix = "-devices" if device_ids else ""
    shape = f"-{days}d-{per_user:g}pu"
    name = f"rba-{variant}-seed{seed}-{logins}{shape}{suffix}-{generator_digest()}.csv"
    path = cache / name
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.partial")  # parallel runs do not collide
        rba_synth.generate(partial, seed, logins, variant, device_ids, days=days, per_user=per_user)
        partial.replace(path)
    return path


def engine_copy(labelled: Path, target: Path, second_factor: bool = False) -> int:
    """Write the log as the engine may see it: labels False, harness columns dropped.

    With `second_factor`, a SECOND_FACTOR_COLUMN says who would answer a step-up: the
    account's owner, never an attacker. The replay reads it only after scoring a row it
    stepped up, to learn that sign-in or not, as the server would after the second factor.
    """
    with (
        open(labelled, newline="", encoding="utf-8") as source,
        open(target, "w", newline="", encoding="utf-8") as sink,
    ):
        reader = csv.DictReader(source)
        columns = [*RBA_COLUMNS]
        if rba_synth.DEVICE_COLUMN in (reader.fieldnames or ()):
            columns.append(rba_synth.DEVICE_COLUMN)
        if second_factor:
            columns.append(SECOND_FACTOR_COLUMN)
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(columns)
        count = 0
        for row in reader:
            if second_factor:
                attacker = any(_true(row[column]) for column in LABEL_COLUMNS)
                row[SECOND_FACTOR_COLUMN] = str(not attacker)
            for column in LABEL_COLUMNS:
                row[column] = "False"
            writer.writerow([row[c] for c in columns])
            count += 1
    return count


def run_replay(log: Path, config: Path, levels: Path, cities: Path | None = None) -> float:
    """Replay `log` through the product's CLI (with a cities file, when given, so that
    unlikelyTravel runs); returns the wall-clock seconds it took."""
    command = [
        sys.executable,
        "-m",
        "idp",
        "risk",
        "replay",
        str(log),
        "--config",
        str(config),
        "--levels-out",
        str(levels),
    ]
    if cities is not None:
        command += ["--cities", str(cities)]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise EvalError(
            f"{' '.join(command)} exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
        )
    return elapsed


def labels_and_scores(labelled: Path) -> tuple[Labels, list[float], float]:
    """One pass over the labelled log: its labels, Freeman's score of each row, the seconds."""
    scorer = freeman.FreemanScorer()
    scores: list[float] = []

    def scored(rows: Iterable[dict[str, str]]) -> Iterator[dict[str, str]]:
        for row in rows:
            scores.append(scorer.score(row))
            scorer.learn(row)
            yield row

    began = time.perf_counter()
    with open(labelled, newline="", encoding="utf-8") as handle:
        labels = read_labels(scored(csv.DictReader(handle)))
    return labels, scores, time.perf_counter() - began


def _describe(args: argparse.Namespace) -> list[str]:
    """The variant and whatever differs from the default log."""
    parts = [args.variant]
    parts += ["device IDs"] if args.device_ids else []
    parts += ["second factor"] if args.second_factor else []
    parts += ["cities file"] if args.cities else []
    parts += [f"{args.days} days"] if args.days != rba_synth.DEFAULT_DAYS else []
    if args.per_user != rba_synth.MEAN_LOGINS_PER_USER:
        parts.append(f"{args.per_user:g} logins per user")
    return parts


def run_dataset(seed: int, args: argparse.Namespace, work: Path, config: Path) -> DatasetResult:
    """Generate (or reuse), replay and score one dataset."""
    labelled = dataset(
        args.cache_dir,
        seed,
        args.logins,
        args.variant,
        args.device_ids,
        args.days,
        args.per_user,
    )
    labels, scores, freeman_seconds = labels_and_scores(labelled)
    copy, levels_path = work / f"seed{seed}.csv", work / f"seed{seed}-levels.csv"
    engine_copy(labelled, copy, args.second_factor)
    cities = None
    if args.cities:
        cities = work / "cities.csv"
        with open(cities, "w", newline="", encoding="utf-8") as handle:
            rba_synth.write_cities(handle)
    replay_seconds = run_replay(copy, config, levels_path, cities)
    levels = evaluate_levels(labels, read_levels(levels_path, labels.rows))
    medium = next(result for result in levels if result.level is Level.MEDIUM)
    baseline = freeman_at_rate(labels, scores, round(medium.legitimate.part))
    return DatasetResult(
        f"seed {seed} ({', '.join(_describe(args))})",
        labels.rows,
        levels,
        baseline,
        replay_seconds,
        freeman_seconds,
        rba_synth.file_stats(labelled),
    )


# -- output ---------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _count(rate: Rate, digits: int = 1) -> str:
    part = f"{rate.part:.1f}" if rate.part != int(rate.part) else f"{int(rate.part)}"
    return f"{rate.percent(digits)} ({part}/{rate.whole})"


def format_results(results: Sequence[DatasetResult]) -> str:
    """The markdown tables, targets and timings for a run."""
    lines = ["Step-up at medium+ (episodes are caught when their first login is stepped up):", ""]
    lines += _table(
        [
            "dataset",
            "legit stepped up",
            "episodes caught",
            "naive",
            "VPN",
            "targeted",
            "Freeman at equal rate",
        ],
        (
            [
                r.name,
                _count(r.at(Level.MEDIUM).legitimate, 2),
                _count(r.at(Level.MEDIUM).episodes),
                *(r.at(Level.MEDIUM).kind(k).percent() for k in KINDS),
                f"{r.freeman.episodes.percent()} ("
                + ", ".join(f"{k} {rate.percent()}" for k, rate in r.freeman.by_kind)
                + ")",
            ]
            for r in results
        ),
    )
    lines += ["", "Every level:", ""]
    lines += _table(
        [
            "dataset",
            "step up at",
            "legit stepped up",
            "episodes caught",
            "naive",
            "VPN",
            "targeted",
            "failed stuffing flagged",
        ],
        (
            [
                r.name,
                f"{level.level.value}+",
                level.legitimate.percent(2),
                level.episodes.percent(),
                *(level.kind(k).percent() for k in KINDS),
                level.stuffing_flagged.percent(),
            ]
            for r in results
            for level in r.levels
        ),
    )
    lines += ["", "Targets at medium+:", ""]
    names = [name for name, _ in targets(results[0])] if results else []
    lines += _table(
        ["dataset", *names],
        ([r.name, *("PASS" if ok else "FAIL" for _, ok in targets(r))] for r in results),
    )
    lines += [""]
    for r in results:
        lines.append(
            f"{r.name}: {r.rows:,} rows; replay {r.replay_seconds:.1f} s "
            f"({r.rows / r.replay_seconds:,.0f} rows/s, CLI start-up included); "
            f"Freeman {r.freeman_seconds:.1f} s (reading the log included)"
        )
    for r in results:
        if r.population is not None:
            lines.append(f"{r.name} population: {r.population.describe()}")
    return "\n".join(lines)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds must be integers separated by commas: {text!r}"
        ) from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return seeds


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=_seeds,
        default=TUNING_SEEDS,
        help="tuning seeds, comma-separated (default 1,2,3)",
    )
    parser.add_argument(
        "--holdout",
        action="store_true",
        help=f"run the held-out seed {HOLDOUT_SEED} instead; never tune on it",
    )
    parser.add_argument("--logins", type=int, default=250_000)
    parser.add_argument("--variant", choices=rba_synth.VARIANTS, default="standard")
    parser.add_argument(
        "--days", type=int, default=rba_synth.DEFAULT_DAYS, help="days the log spans"
    )
    parser.add_argument(
        "--per-user",
        type=float,
        default=rba_synth.MEAN_LOGINS_PER_USER,
        help="mean legitimate logins per user: fewer means more people, each less known",
    )
    parser.add_argument("--device-ids", action="store_true")
    parser.add_argument(
        "--second-factor",
        action="store_true",
        help="tell the replay who answers a step-up (owners do, attackers do not)",
    )
    parser.add_argument(
        "--cities",
        action="store_true",
        help="give the replay the generator's city coordinates, so that unlikelyTravel runs",
    )
    parser.add_argument("--config", type=Path, help="TOML config for the replay ([risk])")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "idp-detection-eval"
    )
    args = parser.parse_args(argv)
    if HOLDOUT_SEED in args.seeds and not args.holdout:
        parser.error(f"seed {HOLDOUT_SEED} is held out: run it only with --holdout")
    seeds = (HOLDOUT_SEED,) if args.holdout else args.seeds
    try:  # the generator's own checks, before any work
        rba_synth.check_parameters(args.logins, args.variant, args.days, args.per_user)
    except ValueError as exc:
        parser.error(str(exc))
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="detection-eval-") as temp:
        work = Path(temp)
        config = args.config
        if config is None:
            config = work / "risk.toml"
            config.write_text("[risk]\n", encoding="utf-8")
        for seed in seeds:
            try:
                results.append(run_dataset(seed, args, work, config))
            except (EvalError, OSError) as exc:
                print(f"seed {seed}: {exc}", file=sys.stderr)
                return 2
    print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
