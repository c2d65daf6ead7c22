"""Validate the scoring settings and the tree index -> fields -> elements -> criteria against the items."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorCode, WarningCode
from ..model import GroupWeighting, Level, Method, PointsTotal, UnaskedStratum
from .context import LEVEL_KEYS, Context, is_number, number_text, where_of
from .references import check_refs


@dataclass
class _Tree:
    """What every node of one scoring tree is checked against, and the node codes used so far."""

    items: dict[str, dict]
    choices: dict[str, list[dict]]
    settings: dict[str, Any]
    seen: set[str] = field(default_factory=set)

    @property
    def method(self) -> str:
        """Return the tree's default scoring method."""
        return self.settings["method"]


def scoring_tree(ctx: Context, raw: Any, items: dict, choices: dict, group_codes: set[str]) -> dict:
    """Return the scoring settings with the tree under ``index``, checked against the items."""
    where = where_of(raw, "scoring")
    raw = ctx.mapping(raw, where)
    ctx.keys(raw, "scoring", where)
    out = _settings(ctx, raw, where, group_codes)
    index = raw.get("index")
    if index is None:
        raise ctx.fail(ErrorCode.MISSING_FIELD, "'index' (the root of the scoring tree) is required", where)
    out["index"] = node(ctx, index, Level.INDEX, "scoring index", _Tree(items, choices, out))
    _check_tree(ctx, out, items, where)
    if out["method"] == Method.POINTS.value and out["points_total"] == PointsTotal.ASKED.value:
        _check_sums(ctx, out["index"])
    return out


def _settings(ctx: Context, raw: dict, where: str, group_codes: set[str]) -> dict[str, Any]:
    """Return method, valid and positive codes, scale, values, group weights, decimals and min_n."""
    method = ctx.text(raw, "method", where)
    try:
        method = Method(method).value
    except ValueError:
        raise ctx.fail(
            ErrorCode.BAD_SCORING,
            f"unknown method {method!r}; use {', '.join(m.value for m in Method)}",
            where,
        ) from None
    out: dict[str, Any] = {"method": method}
    out["valid"] = [number_text(v) for v in ctx.seq(raw.get("valid", [1, 2, 3, 4, 5]), where, "valid")]
    out["positive"] = [number_text(v) for v in ctx.seq(raw.get("positive", [4, 5]), where, "positive")]
    for key in ("valid", "positive"):
        if not out[key]:
            raise ctx.fail(ErrorCode.BAD_SCORING, f"'{key}' must list at least one answer code", where)
    scale = ctx.seq(raw.get("scale", [1, 5]), where, "scale")
    if len(scale) != 2 or not all(is_number(x) for x in scale) or float(scale[0]) >= float(scale[1]):
        raise ctx.fail(ErrorCode.BAD_SCORING, "'scale' must be [min, max] with min < max", where)
    out["scale"] = [float(scale[0]), float(scale[1])]
    out["values"] = values(ctx, raw.get("values"), where)
    out["group_weights"] = _group_weights(ctx, raw.get("group_weights") or {}, where, group_codes)
    out["group_weighting"] = _choice(ctx, raw, "group_weighting", GroupWeighting, where)
    out["points_total"] = _choice(ctx, raw, "points_total", PointsTotal, where)
    out["unasked_stratum"] = _choice(ctx, raw, "unasked_stratum", UnaskedStratum, where)
    out["decimals"] = ctx.integer(raw, "decimals", 2, 0, 10, where)
    out["min_n"] = ctx.integer(raw, "min_n", 30, 0, 1_000_000, where)
    return out


def _choice(
    ctx: Context, raw: dict, key: str, kind: type[GroupWeighting | PointsTotal | UnaskedStratum], where: str
) -> str:
    """Return a named setting's value (its first value, the default, when absent)."""
    value = raw.get(key)
    if value is None:
        return next(iter(kind)).value
    try:
        return kind(str(value).strip()).value
    except ValueError:
        raise ctx.fail(
            ErrorCode.BAD_SCORING, f"unknown {key} {value!r}; use {', '.join(m.value for m in kind)}", where
        ) from None


def _group_weights(ctx: Context, raw: Any, where: str, group_codes: set[str]) -> dict[str, float]:
    """Return the weight of each declared respondent group, each a number >= 0."""
    gw = ctx.mapping(raw, where)
    for g, w in gw.items():
        if g not in group_codes:
            raise ctx.fail(ErrorCode.UNKNOWN_GROUP, f"group_weights names undeclared group {g!r}", where)
        if not is_number(w) or float(w) < 0:
            raise ctx.fail(ErrorCode.BAD_SCORING, f"group weight for {g!r} must be a number >= 0", where)
    return {str(g): float(w) for g, w in gw.items()}


def _check_tree(ctx: Context, out: dict, items: dict, where: str) -> None:
    """Refuse a tree without criteria; warn about Likert items that no criterion scores."""
    if not any(n.get("level") == "criterion" for n in walk(out["index"])):
        raise ctx.fail(ErrorCode.BAD_SCORING, "the scoring tree has no criteria", where)
    methods = {out["method"]} | {n["method"] for n in walk(out["index"]) if n.get("method")}
    # 'positive' only matters where a criterion counts satisfied answers.
    if Method.SHARE_SATISFIED.value in methods and not set(out["positive"]) <= set(out["valid"]):
        raise ctx.fail(ErrorCode.BAD_SCORING, "every 'positive' code must also be 'valid'", where)
    # A question on the same answer list as scored items, but scored nowhere, is usually forgotten.
    scored = {it for n in walk(out["index"]) for it in n["items"]}
    scored_lists = {items[it].get("choices") for it in scored} - {None}
    for code, q in items.items():
        if code not in scored and q.get("choices") in scored_lists and q["type"] == "single":
            ctx.warn(
                WarningCode.UNSCORED_LIKERT,
                f"uses the answer list {q['choices']!r} of scored items but is in no scoring criterion",
                f"item {code}",
            )


def _check_sums(ctx: Context, node: dict) -> float:
    """Under ``points_total: asked`` a node's points are its criteria's: its max_points must be their sum."""
    if node["level"] == Level.CRITERION.value:
        return node["max_points"] or 0.0
    total = sum(_check_sums(ctx, c) for c in node["children"])
    if node["max_points"] is not None and abs(node["max_points"] - total) > 1e-9 * max(1.0, total):
        raise ctx.fail(
            ErrorCode.BAD_SCORING,
            f"max_points {number_text(node['max_points'])} of {node['code']!r} differs from the sum of its "
            f"criteria's max_points ({number_text(total)}); under points_total: asked a node's points are "
            "the sum of its criteria's (use points_total: scaled to rescale)",
            f"scoring {node['level']} {node['code']}",
        )
    return total


def values(ctx: Context, raw: Any, where: str) -> dict[str, float]:
    """Return option values (fractions of the points) by answer code."""
    if not raw:
        return {}
    raw = ctx.mapping(raw, where)
    out = {}
    for code, v in raw.items():
        if not is_number(v) or not 0 <= float(v) <= 1:
            raise ctx.fail(
                ErrorCode.BAD_SCORING, f"value of option {code!r} must be a fraction in [0, 1]", where
            )
        out[number_text(code)] = float(v)
    return out


def node(ctx: Context, raw: Any, level: Level, where: str, tree: _Tree) -> dict:
    """Return one node of the scoring tree with its children, checked."""
    if level is Level.CRITERION and isinstance(raw, str):
        raw = {"item": raw}
    where = where_of(raw, where)
    raw = ctx.mapping(raw, where)
    out: dict[str, Any] = {"level": level.value}
    if level is Level.CRITERION:
        code, where, label = _criterion(ctx, raw, where, tree, out)
    else:
        code = ctx.code(raw, "code", where)
        where = where_of(raw, f"scoring {level.value} {code}")
        ctx.keys(raw, "node", where)
        label = raw.get("label")
        out["items"] = []
        out["method"] = None
        out["values"] = None
    if code in tree.seen:
        raise ctx.fail(ErrorCode.BAD_SCORING, f"scoring node code {code!r} is used twice", where)
    tree.seen.add(code)
    out["code"] = code
    if level is Level.CRITERION and not raw.get("label"):
        # The item's label, already checked (and warned about) there; a calculate has none: its code.
        out["label"] = dict(label) if label else {ctx.languages[0]: code}
    else:
        out["label"] = ctx.label(label, where)
    _weighting(ctx, raw, level, where, tree, out)
    out["children"] = _children(ctx, raw, level, where, tree)
    return out


def _criterion(ctx: Context, raw: dict, where: str, tree: _Tree, out: dict) -> tuple[str, str, Any]:
    """Fill a criterion's items, method and values into ``out``; return its code, where and label."""
    if raw.get("item") and raw.get("items"):
        raise ctx.fail(ErrorCode.BAD_SCORING, "a criterion has 'item' or 'items', not both", where)
    item_list = raw.get("items") or ([raw["item"]] if raw.get("item") else [])
    item_list = [number_text(i) for i in ctx.seq(item_list, where, "items")]
    if not item_list:
        raise ctx.fail(ErrorCode.BAD_SCORING, "a criterion needs 'item' or 'items'", where)
    code = ctx.code(raw, "code", where) if raw.get("code") else item_list[0]
    where = where_of(raw, f"scoring criterion {code}")
    ctx.keys(raw, "criterion", where)
    if len(set(item_list)) != len(item_list):
        raise ctx.fail(ErrorCode.BAD_SCORING, "an item is listed twice in 'items'", where)
    for it in item_list:
        if it not in tree.items:
            raise ctx.fail(ErrorCode.SCORING_UNKNOWN_ITEM, f"scoring refers to unknown item {it!r}", where)
        q = tree.items[it]
        if q["type"] not in ("single", "integer", "decimal", "calculate"):
            raise ctx.fail(ErrorCode.BAD_SCORING, f"item {it!r} of type {q['type']} cannot be scored", where)
    out["items"] = item_list
    label = raw.get("label") or tree.items[item_list[0]]["label"]
    method = raw.get("method")
    if method:
        try:
            method = Method(method).value
        except ValueError:
            raise ctx.fail(ErrorCode.BAD_SCORING, f"unknown method {method!r}", where) from None
    out["method"] = method
    out["values"] = values(ctx, raw.get("values"), where) or None
    effective = method or tree.method
    if effective == "points" and not (out["values"] or tree.settings["values"]):
        raise ctx.fail(ErrorCode.BAD_SCORING, "the points method needs option 'values'", where)
    check_criterion_options(ctx, item_list, tree, effective, out["values"], where)
    return code, where, label


def _weighting(ctx: Context, raw: dict, level: Level, where: str, tree: _Tree, out: dict) -> None:
    """Fill a node's weight, gate and max_points into ``out``."""
    weight = raw.get("weight", 1)
    if not is_number(weight) or float(weight) < 0:
        raise ctx.fail(ErrorCode.BAD_SCORING, "weight must be a number >= 0", where)
    out["weight"] = float(weight)
    out["gate"] = ctx.expression(raw.get("gate"), where, "gate")
    check_refs(ctx, out["gate"], tree.items, where, "gate")
    if out["gate"] and level is Level.INDEX:
        raise ctx.fail(ErrorCode.BAD_SCORING, "the index cannot have a gate; gate a field or element", where)
    mp = raw.get("max_points")
    if mp is not None and (not is_number(mp) or float(mp) < 0):
        raise ctx.fail(ErrorCode.BAD_SCORING, "max_points must be a number >= 0", where)
    out["max_points"] = float(mp) if mp is not None else None
    if level is Level.CRITERION and (out["method"] or tree.method) == "points" and out["max_points"] is None:
        raise ctx.fail(ErrorCode.BAD_SCORING, "the points method needs max_points on every criterion", where)


def _children(ctx: Context, raw: dict, level: Level, where: str, tree: _Tree) -> list[dict]:
    """Return a node's children, all of one lower level; a criterion has none."""
    child_keys = [k for k in LEVEL_KEYS if k in raw]
    if level is Level.CRITERION:
        if child_keys:
            raise ctx.fail(ErrorCode.BAD_SCORING, "a criterion cannot have children", where)
        return []
    if len(child_keys) != 1:
        raise ctx.fail(
            ErrorCode.BAD_SCORING, "a node needs exactly one of 'fields', 'elements' or 'criteria'", where
        )
    child_level = LEVEL_KEYS[child_keys[0]]
    if list(Level).index(child_level) <= list(Level).index(level):
        raise ctx.fail(ErrorCode.BAD_SCORING, f"a {level.value} cannot contain {child_keys[0]}", where)
    kids = ctx.seq(raw[child_keys[0]], where, child_keys[0])
    if not kids:
        raise ctx.fail(ErrorCode.BAD_SCORING, f"'{child_keys[0]}' is empty", where)
    return [
        node(ctx, k, child_level, f"{where}, {child_level.value} {i + 1}", tree) for i, k in enumerate(kids)
    ]


def check_criterion_options(
    ctx: Context, item_list: list[str], tree: _Tree, method: str, own_values: dict | None, where: str
) -> None:
    """Make sure the criterion's answers can be scored by its method."""
    valid = set(tree.settings["valid"])
    for it in item_list:
        q = tree.items[it]
        if q["type"] == "calculate":
            continue  # its stored value is read as an answer code; nothing to check before data comes
        if q["type"] != "single":
            if method != Method.MEAN_SCORE.value:
                raise ctx.fail(
                    ErrorCode.BAD_SCORING,
                    f"item {it!r} is a {q['type']} question; only mean_score can score numbers",
                    where,
                )
            continue
        codes = [c["code"] for c in tree.choices[q["choices"]]]
        valid_codes = [c for c in codes if c in valid]
        if not valid_codes:
            raise ctx.fail(
                ErrorCode.BAD_SCORING,
                f"no option of item {it!r} ({', '.join(codes)}) is among the valid codes "
                f"({', '.join(tree.settings['valid'])})",
                where,
            )
        if method == Method.POINTS.value:
            table = own_values or tree.settings["values"]
            missing = [c for c in valid_codes if c not in table]
            if missing:
                raise ctx.fail(
                    ErrorCode.BAD_SCORING,
                    f"valid option(s) {', '.join(missing)} of item {it!r} have no value (fraction of points)",
                    where,
                )
        elif method == Method.MEAN_SCORE.value and not all(is_number(c) for c in valid_codes):
            raise ctx.fail(
                ErrorCode.BAD_SCORING,
                f"mean_score needs numeric valid options; item {it!r} has others",
                where,
            )


def walk(node: dict) -> Iterator[dict]:
    """Yield a normalised node and all nodes below it, depth first."""
    yield node
    for c in node.get("children", []):
        yield from walk(c)
