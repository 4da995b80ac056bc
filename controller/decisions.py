"""From firing rules and applied limits to actions: apply, update, keep, release, none.

Each step works on masks over all containers; the only loops are over rules, groups and the
four directions. Reasons are rendered only for the rows a step decides.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from controller.frames import (
    DECISION_COLUMNS,
    DIRECTIONS,
    KEY_COLUMNS,
    RATE_COLUMNS,
    limit_column,
)
from controller.reasons import no_limit_reason, release_reason, rule_reason
from controller.rule_model import DEFAULT_RELEASE, Rule, RuleSet
from controller.windows import ColumnsByName, History
from iops_limit.durations import format_duration

if TYPE_CHECKING:
    from controller.engine import AppliedState, EngineOptions

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Strings = npt.NDArray[np.object_]
Indices = npt.NDArray[np.int64]

_STRING_COLUMNS = (*KEY_COLUMNS, "node", "action", "group", "rule", "severity", "summary", "reason")

BY_PERSON = "set by a person: the controller leaves it alone"
FAIL_STATIC = "no current IO data for the container: limit kept (fail static)"


@dataclass
class RuleMatches:
    """Per container: the strictest value per direction and the index of the rule behind it."""

    rules: tuple[Rule, ...]
    selected: Mask
    fired_any: Mask
    first_fired: Indices
    best: dict[str, Floats] = field(default_factory=dict)
    winner: dict[str, Indices] = field(default_factory=dict)

    @staticmethod
    def empty(n: int, rules: tuple[Rule, ...]) -> "RuleMatches":
        return RuleMatches(
            rules,
            np.zeros(n, dtype=np.bool_),
            np.zeros(n, dtype=np.bool_),
            np.full(n, -1, dtype=np.int64),
            {d: np.full(n, np.inf) for d in DIRECTIONS},
            {d: np.full(n, -1, dtype=np.int64) for d in DIRECTIONS},
        )

    def add(self, rule: Rule, fired: Mask, limits: dict[str, Floats]) -> None:
        index = self.rules.index(rule)
        self.first_fired[fired & ~self.fired_any] = index
        self.fired_any |= fired
        for direction, values in limits.items():
            # Strictly lower: on a tie the rule loaded first keeps the direction.
            with np.errstate(invalid="ignore"):
                better = values < self.best[direction]
            self.best[direction][better] = values[better]
            self.winner[direction][better] = index

    def proposed(self, direction: str) -> Floats:
        best = self.best[direction]
        return np.where(np.isinf(best), np.nan, best)

    def decider(self) -> Indices:
        """The first rule (load order) that won any direction, or -1."""
        none = len(self.rules)
        winners = [np.where(self.winner[d] < 0, none, self.winner[d]) for d in DIRECTIONS]
        first = np.minimum.reduce(winners)
        return np.where(first == none, -1, first)


class Decisions:
    """The decision columns, filled in by rules, then releases, then the cap (in that order)."""

    def __init__(
        self,
        rules: RuleSet,
        columns: ColumnsByName,
        *,
        applied: "AppliedState",
        in_current: Mask,
        matches: RuleMatches,
        options: "EngineOptions",
        now: float,
        released_at: Floats,
    ) -> None:
        n = columns.length
        self._rules = rules
        self._columns = columns
        self._applied = applied
        self._matches = matches
        self._options = options
        self.action = np.full(n, "none", dtype=object)
        self.limits = {d: np.full(n, np.nan) for d in DIRECTIONS}
        self.group = np.full(n, "", dtype=object)
        self.rule = np.full(n, "", dtype=object)
        self.reason = np.full(n, "", dtype=object)
        self.summary = np.full(n, "", dtype=object)
        with np.errstate(invalid="ignore"):
            self._age = now - applied.changed
        self._hold_ok = ~(self._age < options.min_hold)
        with np.errstate(invalid="ignore"):
            self._since_release = now - released_at
        self._released_recently = self._since_release < options.min_hold
        self._in_current = in_current
        self._decider = matches.decider()
        self._release_candidates = np.zeros(n, dtype=np.bool_)

    def _rate(self, name: str) -> Floats:
        return self._columns.numbers(name)

    def _applied_limit(self, direction: str) -> Floats:
        return self._rate(limit_column(direction))

    def _set(self, rows: Mask, action: str, reason: Strings | str) -> None:
        self.action[rows] = action
        self.reason[rows] = reason

    def _keep_applied(self, rows: Mask) -> None:
        for d in DIRECTIONS:
            self.limits[d][rows] = self._applied_limit(d)[rows]
        self.group[rows] = self._applied.group[rows]
        self.rule[rows] = self._applied.rule[rows]

    def _rule_reasons(self, rows: Mask) -> Strings:
        """The reasons of every rule that won a direction on ``rows``, first decider first."""
        text = np.full(int(np.count_nonzero(rows)), "", dtype=object)
        positions = np.flatnonzero(rows)
        for index, rule in enumerate(self._matches.rules):
            won = np.zeros(len(positions), dtype=np.bool_)
            for d in DIRECTIONS:
                won |= self._matches.winner[d][positions] == index
            if won.any():
                piece = rule_reason(rule, self._columns, positions[won])
                text[won] = np.where(text[won] == "", piece, text[won] + "; " + piece)
        return text

    def decide_by_rules(self) -> None:
        """New limits, tightened limits, and limits kept as they are (not yet released)."""
        applied, matches = self._applied, self._matches
        has_proposal = self._decider >= 0
        managed = applied.present & ~applied.by_person
        gone = applied.present & ~self._in_current

        self._keep_applied(applied.by_person)
        self._set(applied.by_person, "keep", BY_PERSON)
        self._keep_applied(managed & gone)
        self._set(managed & gone, "keep", FAIL_STATIC)

        unlimited = ~applied.present & matches.fired_any & ~has_proposal
        self._set(unlimited, "none", self._no_limit_reasons(unlimited))

        new = ~applied.present & has_proposal & ~self._released_recently
        for d in DIRECTIONS:
            self.limits[d][new] = matches.proposed(d)[new]
        self._name_by_decider(new)
        self._set(new, "apply", self._rule_reasons(new))
        self._hold_after_release(~applied.present & has_proposal & self._released_recently)

        tighter = np.zeros_like(new)
        for d in DIRECTIONS:
            proposed, current = matches.proposed(d), self._applied_limit(d)
            with np.errstate(invalid="ignore"):
                tighter |= (proposed < current) | (np.isnan(current) & ~np.isnan(proposed))
        update = managed & ~gone & has_proposal & tighter
        now_ok = update & self._hold_ok
        for d in DIRECTIONS:
            stricter = np.fmin(self._applied_limit(d), matches.proposed(d))
            self.limits[d][now_ok] = stricter[now_ok]
        self._name_by_decider(now_ok)
        self._set(now_ok, "update", self._rule_reasons(now_ok))
        self._hold(update & ~self._hold_ok, "update", self._rule_reasons(update & ~self._hold_ok))

        still = managed & ~gone & ~update & matches.fired_any
        self._keep_applied(still)
        self._set(still, "keep", "limit kept, still firing: " + self._firing_reasons(still))
        self._release_candidates = managed & ~gone & ~update & ~matches.fired_any
        self._render_summaries(has_proposal)

    def _firing_reasons(self, rows: Mask) -> Strings:
        return self._first_fired_reasons(rows, rule_reason)

    def _no_limit_reasons(self, rows: Mask) -> Strings:
        return self._first_fired_reasons(rows, no_limit_reason)

    def _first_fired_reasons(
        self, rows: Mask, reason: Callable[[Rule, ColumnsByName, Indices], Strings]
    ) -> Strings:
        """``reason`` of the first rule (load order) that fired on each row."""
        positions = np.flatnonzero(rows)
        text = np.full(len(positions), "", dtype=object)
        first = self._matches.first_fired[positions]
        for index in np.unique(first):
            these = first == index
            rule = self._matches.rules[int(index)]
            text[these] = reason(rule, self._columns, positions[these])
        return text

    def _name_by_decider(self, rows: Mask) -> None:
        names = np.array(
            [(r.group, r.name) for r in self._matches.rules] or [("", "")], dtype=object
        )
        chosen = self._decider[rows]
        self.group[rows] = names[chosen, 0]
        self.rule[rows] = names[chosen, 1]

    def _hold(self, rows: Mask, would: str, reason: Strings) -> None:
        """Rows whose change waits for the minimum hold: keep, and say when it may happen."""
        if not rows.any():
            return
        self._keep_applied(rows)
        waits = [
            f"min hold {format_duration(self._options.min_hold)}: last change "
            f"{format_duration(age)} ago; would {would}: "
            for age in self._age[rows].tolist()
        ]
        self._set(rows, "keep", np.array(waits, dtype=object) + reason)

    def _hold_after_release(self, rows: Mask) -> None:
        """A release is a change too: no new limit until the hold has passed since it."""
        if not rows.any():
            return
        self._name_by_decider(rows)
        waits = [
            f"min hold {format_duration(self._options.min_hold)}: released "
            f"{format_duration(age)} ago; would apply: "
            for age in self._since_release[rows].tolist()
        ]
        self._set(rows, "none", np.array(waits, dtype=object) + self._rule_reasons(rows))

    def _render_summaries(self, rows: Mask) -> None:
        columns = {
            name: self._columns.column(name) for name in (*KEY_COLUMNS, "node", *RATE_COLUMNS)
        }
        for d in DIRECTIONS:
            columns[limit_column(d)] = self.limits[d]
        for index in np.unique(self._decider[rows]):
            rule = self._matches.rules[int(index)]
            these = rows & (self._decider == index)
            if rule.summary is not None:
                subset = {name: values[these] for name, values in columns.items()}
                self.summary[these] = rule.summary.render(subset, int(np.count_nonzero(these)))

    def decide_releases(self, history: History) -> None:
        """Release held limits whose group's release condition held for its ``for``."""
        candidates = self._release_candidates
        if not candidates.any():
            return
        for name in pd.unique(self._applied.group[candidates]):
            group = self._rules.group(str(name))
            release = group.release if group is not None else DEFAULT_RELEASE
            rows = candidates & (self._applied.group == name)
            holds_now = release.expr.holds(self._columns) & rows
            held = history.held(release.expr, release.for_seconds, holds_now)
            self._keep_applied(rows)
            waiting = rows & ~held
            self._set(
                waiting,
                "keep",
                "limit kept, release needs "
                + release_reason(release, self._columns, np.flatnonzero(waiting)),
            )
            now = held & self._hold_ok
            self._set(
                now,
                "release",
                "released: " + release_reason(release, self._columns, np.flatnonzero(now)),
            )
            for d in DIRECTIONS:
                self.limits[d][now] = np.nan
            later = held & ~self._hold_ok
            self._hold(
                later, "release", release_reason(release, self._columns, np.flatnonzero(later))
            )

    def cap_new_limits(self, pod_codes: Indices, selected: Mask) -> None:
        """Hold back new limits beyond the blast-radius cap, most demanding pods first."""
        new = self.action == "apply"
        managed = self._applied.present & ~self._applied.by_person
        already = np.isin(pod_codes, pod_codes[managed])
        new &= ~already
        if not new.any():
            return
        selected_pods = len(pd.unique(pod_codes[selected]))
        fraction = self._options.max_new_limits_fraction
        allowed = max(1, math.floor(fraction * selected_pods))
        ratio = np.zeros(int(np.count_nonzero(new)))
        for d in DIRECTIONS:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.fmax(ratio, self._rate(d)[new] / self.limits[d][new])
        pods = pd.DataFrame(
            {
                "code": pod_codes[new],
                "ratio": ratio,
                "namespace": self._columns.column("namespace")[new],
                "pod": self._columns.column("pod")[new],
            }
        )
        ranked = (
            pods.groupby("code", sort=False)
            .agg(ratio=("ratio", "max"), namespace=("namespace", "first"), pod=("pod", "first"))
            .sort_values(["ratio", "namespace", "pod"], ascending=[False, True, True])
        )
        if len(ranked) <= allowed:
            return
        held_back = new & np.isin(pod_codes, ranked.index[allowed:].to_numpy())
        for d in DIRECTIONS:
            self.limits[d][held_back] = np.nan
        note = (
            f"held back by the blast-radius cap ({allowed} new pods per evaluation: "
            f"{fraction:g} of {selected_pods} selected pods); would apply: "
        )
        self._set(held_back, "none", note + self.reason[held_back])

    def frame(self) -> pd.DataFrame:
        data: dict[str, object] = {
            name: self._columns.column(name) for name in (*KEY_COLUMNS, "node")
        }
        data["action"] = self.action
        for d in DIRECTIONS:
            data[limit_column(d)] = self.limits[d]
        severities = {rule.qualified_name: rule.severity for rule in self._rules.rules()}
        qualified = pd.Series(self.group + "/" + self.rule, dtype=object)
        data["group"] = self.group
        data["rule"] = self.rule
        data["severity"] = qualified.map(severities).fillna("").to_numpy(dtype=object)
        data["summary"] = self.summary
        data["reason"] = self.reason
        for name in RATE_COLUMNS:
            data[name] = self._columns.column(name)
        frame = pd.DataFrame(data, columns=list(DECISION_COLUMNS))
        # pandas infers the str dtype from non-empty arrays of strings, not from empty ones.
        return frame if len(frame) else frame.astype(dict.fromkeys(_STRING_COLUMNS, "str"))
