"""The triage written plainly in pandas: the yardstick of ``bench/triage.py``.

The same rules as ``b12.adapters.triage.rules`` (docs/triage.md), from the same data: the unit, LOINC
and test-name tables and conversion factors of ``b12.adapters.triage.vocabulary``, the threshold set's
bands, the guideline's intervals (``rules.rule_data``) and the constants of ``b12.domain.labs``. Written
the way a pandas user would: columns read with ``read_parquet``, spellings mapped through dicts built
on the distinct values, numbers with ``to_numeric``, the latest result per test by sorting and keeping
the first row of each (patient, test), a pivot to one row per patient, then vectorised conditions.
Nothing is deliberately slow; it is single-threaded because pandas is. The bench checks that it agrees
with the engine, patient by patient.

    .venv/bin/python bench/pandas_triage.py OBS.parquet OUT.parquet [--administrations A] [--patients P]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from b12.adapters.triage import rules, vocabulary
from b12.domain.analytes import Analyte
from b12.domain.case import NEUROLOGICAL_SYMPTOMS, Cause, Symptom
from b12.domain.guidelines import load_guideline
from b12.domain.guidelines.thresholds import Status, load_threshold_set
from b12.domain.labs import (
    ANAEMIA_HB_BELOW_G_L_MEN,
    ANAEMIA_HB_BELOW_G_L_PREGNANT,
    ANAEMIA_HB_BELOW_G_L_WOMEN,
    DEFAULT_MCV_CUTOFF_FL,
    FOLATE_DEFICIENT_BELOW_NMOL_L,
    FOLATE_INDETERMINATE_UP_TO_NMOL_L,
    RECENT_INJECTION_DAYS,
    STABLER_HCY_NORMAL_BELOW_UMOL_L,
    STABLER_MMA_NORMAL_BELOW_NMOL_L,
)
from b12.domain.units import plausible_range

R = rules.Reason
WHITE = " \t\n\r\x0b\x0c"  # the characters the engine's strip removes
TRUE = {"true", "yes", "y", "1", "t"}
NORMAL = {
    Analyte.MMA.value: STABLER_MMA_NORMAL_BELOW_NMOL_L,
    Analyte.HOMOCYSTEINE.value: STABLER_HCY_NORMAL_BELOW_UMOL_L,
}


def text(s: pd.Series) -> pd.Series:
    """Trimmed text, missing when empty."""
    s = s.astype("string").str.strip(WHITE)
    return s.mask(s == "")


def iso_date(s: pd.Series) -> pd.Series:
    s = s.astype("string").str.strip(WHITE)
    shaped = s.str.match(r"^.{4}-.{2}-.{2}").fillna(False).astype(bool)
    return pd.to_datetime(s.str[:10].where(shaped), format="%Y-%m-%d", errors="coerce")


def as_number(s: pd.Series) -> pd.Series:
    """A plain decimal number, as the triage reads one: no digit separator, type suffix, inf or NaN."""
    text = s.astype("string").str.strip(WHITE)
    unusual = text.str.contains(r"[_dDfF]").fillna(False).astype(bool)
    return pd.to_numeric(text.where(~unusual), errors="coerce").astype(float)


def mapped(s: pd.Series, resolve: Callable[[str], object]) -> pd.Series:
    """Map each distinct spelling once, through a dict."""
    table = {value: resolve(value) for value in s.dropna().unique()}
    return s.map(table)


def lookups() -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    units = vocabulary.unit_table().to_pylist()
    exact = {r["key"]: r["symbol"] for r in units if r["kind"] == "exact"}
    folded = {r["key"]: r["symbol"] for r in units if r["kind"] == "folded"}
    names = vocabulary.analyte_table().to_pylist()
    loinc = {r["key"]: r["analyte"] for r in names if r["kind"] == "loinc"}
    by_name = {r["key"]: r["analyte"] for r in names if r["kind"] == "name"}
    return exact, folded, loinc, by_name


def normalise_observations(obs: pd.DataFrame, data: rules.RuleData) -> pd.DataFrame:
    exact, folded, loinc, by_name = lookups()
    plan = pd.DataFrame(
        [
            {
                "analyte": c.analyte.value,
                "symbol": c.unit.symbol,
                "target": c.target,
                "factor": c.factor,
                "rank": c.rank,
                "scale": -1 if c.scale is None else c.scale,
                "converted": c.scale is not None and data.thresholds.scales[c.scale].dimension != c.unit.dimension,
                **dict(zip(("low", "high"), plausible_range(c.unit), strict=True)),
            }
            for c in vocabulary.conversions(data.thresholds)
        ]
    )
    df = pd.DataFrame({"patient_id": text(obs["patient_id"])})

    def unit_symbol(spelling: str) -> object:
        key = vocabulary.unit_key(spelling.strip(WHITE))
        return exact.get(key) or folded.get(key.lower())

    by_code = mapped(obs["code"].astype("string"), lambda code: loinc.get(code.strip(WHITE)))
    by_test = mapped(obs["test"].astype("string"), lambda test: by_name.get(vocabulary.name_key(test)))
    df["analyte"] = by_code.fillna(by_test)
    df["symbol"] = mapped(obs["unit"].astype("string"), unit_symbol)
    df["original"] = as_number(obs["value"])
    df["upper"] = as_number(obs["upper_limit"])
    df["date"] = iso_date(obs["date"])
    df = df.merge(plan, how="left", on=["analyte", "symbol"])
    scaled = (df["original"] * df["factor"] * 1_000_000).clip(0, rules.MAX_MICRO + 1)
    df["micro"] = np.floor(scaled + 0.5)
    number = np.isfinite(df["original"]) & (df["original"] > 0)
    plausible = (df["original"] >= df["low"]) & (df["original"] <= df["high"])
    in_range = (df["date"] >= pd.Timestamp(rules.EPOCH)) & (df["date"] <= pd.Timestamp(rules.LATEST_DATE))
    df["ok"] = (
        df["patient_id"].notna()
        & df["factor"].notna()
        & plausible
        & (df["micro"] >= 1)
        & (df["micro"] <= rules.MAX_MICRO)
        & in_range
    ).astype(bool)
    normal = df["analyte"].map(NORMAL)
    raised = np.where(df["upper"].notna(), df["original"] > df["upper"], df["micro"] >= normal * 1_000_000)
    df["flag"] = normal.notna() & raised
    reasons = [
        (df["patient_id"].isna(), R.MISSING_PATIENT),
        (df["analyte"].isna(), R.UNKNOWN_TEST),
        (df["original"].isna(), R.NON_NUMERIC),
        (~number, R.NOT_POSITIVE),
        (df["symbol"].isna(), R.UNKNOWN_UNIT),
        (df["factor"].isna(), R.WRONG_UNIT),
        (~plausible, R.IMPLAUSIBLE),
        (df["micro"] < 1, R.NOT_POSITIVE),
        (df["date"].isna(), R.BAD_DATE),
        (~in_range, R.DATE_OUT_OF_RANGE),
        (df["micro"] > rules.MAX_MICRO, R.VALUE_OUT_OF_RANGE),
    ]
    bad = ~df["ok"]
    df["reason"] = None
    df.loc[bad, "reason"] = np.select([c[bad].to_numpy(bool) for c, _ in reasons], [r for _, r in reasons], None)
    df["raw_date"] = text(obs["date"])
    df["raw_test"] = text(obs["code"]).fillna(text(obs["test"]))
    df["raw_value"] = text(obs["value"])
    df["raw_unit"] = text(obs["unit"])
    return df


def latest_per_test(df: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: the latest result of each reported test (latest date, lowest value, unit rank)."""
    reported = [a.value for a in rules.REPORTED]
    ok = df[df["ok"] & df["analyte"].isin(reported)]
    ordered = ok.sort_values(
        ["patient_id", "analyte", "date", "micro", "rank", "flag"], ascending=[True, True, False, True, True, True]
    )
    latest = ordered.drop_duplicates(["patient_id", "analyte"])
    latest = latest.assign(value=latest["micro"] / 1_000_000)
    wide = latest.pivot(
        index="patient_id", columns="analyte", values=["value", "target", "date", "flag", "scale", "converted"]
    )
    out = pd.DataFrame(index=wide.index)
    for name in reported:
        for field, column in (("value", "value"), ("target", "unit"), ("date", "date"), ("flag", "flag")):
            out[f"{name}_{column}"] = wide[field].get(name, None)
        if name in (Analyte.B12_TOTAL.value, Analyte.B12_ACTIVE.value):
            out[f"{name}_scale"] = wide["scale"].get(name, None)
            out[f"{name}_converted"] = wide["converted"].get(name, None)
    return out


def bands(data: rules.RuleData, scale: pd.Series, value: pd.Series) -> pd.DataFrame:
    conditions, picked = [], []
    for k, s in enumerate(data.thresholds.scales):
        for band in s.bands:
            r = band.range
            c = scale == k
            if r.low != float("-inf"):
                c &= (value >= r.low) if r.low_closed else (value > r.low)
            if r.high != float("inf"):
                c &= (value <= r.high) if r.high_closed else (value < r.high)
            conditions.append(c.fillna(False).to_numpy(bool))
            picked.append((band.status.value, band.label, s.rule, band.raised))
    out = pd.DataFrame(index=scale.index)
    for i, field in enumerate(("status", "label", "rule", "raised")):
        out[field] = np.select(conditions, [p[i] for p in picked], None) if conditions else None
    return out


def attributes(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_parquet(path)
    columns = {c.lower(): c for c in raw.columns}
    df = pd.DataFrame({"patient_id": text(raw[columns["patient_id"]])})
    for field in ("sex", "pregnant", "causes", "symptoms", "long_term_replacement"):
        df[field] = text(raw[columns[field]]) if field in columns else pd.Series(pd.NA, index=df.index, dtype="string")
    rejected = [df[df["patient_id"].isna()].assign(reason=R.MISSING_PATIENT)]
    df = df[df["patient_id"].notna()]
    df = df.sort_values(
        ["patient_id", "sex", "pregnant", "causes", "symptoms", "long_term_replacement"], na_position="first"
    )
    duplicate = df["patient_id"].duplicated()
    rejected.append(df[duplicate].assign(reason=R.DUPLICATE_PATIENT))
    df = df[~duplicate].copy()
    sex = df["sex"].str.lower()
    df["sex"] = np.select(
        [sex.isin(["m", "male"]).fillna(False), sex.isin(["f", "female"]).fillna(False)], ["male", "female"], None
    )
    df["pregnant"] = df["pregnant"].str.lower().isin(TRUE).fillna(False).astype(bool)
    df["long_term"] = df["long_term_replacement"].str.lower().isin(TRUE).fillna(False).astype(bool)

    def terms(s: pd.Series) -> pd.Series:
        def one(value: str) -> str:
            import re

            squashed = re.sub(r"[ \t-]+", "_", re.sub(r"[ \t]*;[ \t]*", ";", value.lower()).strip(WHITE))
            return f";{squashed};"

        return mapped(s, one).fillna(";;")

    causes, symptoms = terms(df["causes"]), terms(df["symptoms"])
    df["has_symptoms"] = np.logical_or.reduce([symptoms.str.contains(f";{s.value};", regex=False) for s in Symptom])
    df["neurological"] = np.logical_or.reduce(
        [symptoms.str.contains(f";{s.value};", regex=False) for s in sorted(NEUROLOGICAL_SYMPTOMS)]
    )
    df["nitrous_oxide"] = causes.str.contains(f";{Cause.NITROUS_OXIDE.value};", regex=False).astype(bool)
    male_pregnant = (df["sex"] == "male") & df["pregnant"]
    rejected.append(df[male_pregnant].assign(reason=R.MALE_PREGNANT))
    kept = df[~male_pregnant]
    rej = pd.concat(rejected)[["patient_id", "reason"]].assign(source="patients")
    return kept[
        ["patient_id", "sex", "pregnant", "long_term", "has_symptoms", "neurological", "nitrous_oxide"]
    ].set_index("patient_id"), rej


def joined(parts: Sequence[tuple[pd.Series, str | pd.Series]], index: pd.Index) -> pd.Series:
    """``code:RULE;code:RULE`` of the items whose condition holds ('' when none)."""
    out = np.full(len(index), "", dtype=object)
    for condition, label in parts:
        c = condition.fillna(False).to_numpy(bool)
        piece = label if isinstance(label, str) else label.to_numpy(object)[c]
        current = out[c]
        out[c] = np.where(current == "", "", current + ";") + piece
    return pd.Series(out, index=index)


def triage(
    obs_path: Path,
    out_path: Path,
    as_of: date,
    administrations: Path | None = None,
    patients: Path | None = None,
    thresholds: str = "nice-ng239",
    guideline: str = "uk",
) -> dict[str, float]:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    data = rules.rule_data(load_threshold_set(thresholds), load_guideline(guideline), as_of)
    obs = pd.read_parquet(obs_path, columns=list(rules.OBSERVATION_COLUMNS))
    timings["read"] = time.perf_counter() - clock
    df = normalise_observations(obs, data)
    del obs
    timings["normalise"] = time.perf_counter() - clock - sum(timings.values())

    total, active = Analyte.B12_TOTAL.value, Analyte.B12_ACTIVE.value
    with_id = df[df["patient_id"].notna()]
    counts = with_id.groupby("patient_id").agg(
        rows=("ok", "size"),
        results=("ok", "sum"),
    )
    counts["last_result"] = with_id[with_id["ok"]].groupby("patient_id")["date"].max()
    p = counts.join(latest_per_test(df), how="left")
    rejects = [
        df[~df["ok"]][["patient_id", "raw_date", "raw_test", "raw_value", "raw_unit", "reason"]]
        .rename(columns={"raw_date": "date", "raw_test": "test", "raw_value": "value", "raw_unit": "unit"})
        .assign(source="observations")
    ]
    del df, with_id

    p["first_injection"] = pd.NaT
    p["last_injection"] = pd.NaT
    p["injections"] = 0
    p["total_before"] = pd.NaT
    p["active_before"] = pd.NaT
    if administrations is not None:
        adm = pd.read_parquet(administrations)
        a = pd.DataFrame({"patient_id": text(adm["patient_id"]), "date": iso_date(adm["date"])})
        reason = np.select(
            [a["patient_id"].isna(), a["date"].isna(), a["date"] > pd.Timestamp(as_of)],
            [R.MISSING_PATIENT, R.BAD_DATE, R.AFTER_AS_OF],
            None,
        )
        bad = pd.Series(reason, index=a.index).notna()
        rejects.append(
            pd.DataFrame(
                {
                    "patient_id": a["patient_id"][bad],
                    "date": text(adm["date"])[bad],
                    "value": text(adm["dose"])[bad] if "dose" in adm else None,
                    "reason": reason[bad.to_numpy()],
                    "source": "administrations",
                }
            )
        )
        good = a[~bad]
        given = good.groupby("patient_id")["date"].agg(["min", "max", "count"])
        given.columns = ["first_injection", "last_injection", "injections"]
        samples = p[[f"{total}_date", f"{active}_date"]].reset_index()
        merged = good.merge(samples, on="patient_id")
        before = (
            pd.DataFrame(
                {
                    "total_before": merged["date"].where(merged["date"] <= merged[f"{total}_date"]),
                    "active_before": merged["date"].where(merged["date"] <= merged[f"{active}_date"]),
                    "patient_id": merged["patient_id"],
                }
            )
            .groupby("patient_id")[["total_before", "active_before"]]
            .max()
        )
        p = p.drop(columns=["first_injection", "last_injection", "injections", "total_before", "active_before"])
        p = p.join(given, how="outer").join(before, how="left")
        p["injections"] = p["injections"].fillna(0).astype("int64")
        p["rows"] = p["rows"].fillna(0)
        p["results"] = p["results"].fillna(0)
    timings["classify"] = time.perf_counter() - clock - sum(timings.values())

    if patients is not None:
        attrs, rejected_patients = attributes(patients)
        rejects.append(rejected_patients)
        p = p.join(attrs, how="left")
    for column in ("pregnant", "long_term", "has_symptoms", "neurological", "nitrous_oxide"):
        p[column] = p[column].fillna(False).astype(bool) if column in p else False
    if "sex" not in p:
        p["sex"] = None
    out = derive(p, data)
    timings["classify"] += time.perf_counter() - clock - sum(timings.values())

    table = pa.Table.from_pandas(out.reset_index(drop=True), schema=rules.OUTPUT_SCHEMA, preserve_index=False)
    import pyarrow.parquet as pq

    pq.write_table(table, out_path, compression="zstd")
    rej = pd.concat(rejects, ignore_index=True)
    rej = rej.reindex(columns=[f.name for f in rules.REJECT_SCHEMA])
    pq.write_table(
        pa.Table.from_pandas(
            rej.astype(object).where(rej.notna(), None), schema=rules.REJECT_SCHEMA, preserve_index=False
        ),
        out_path.with_name(out_path.stem + ".rejects.parquet"),
        compression="zstd",
    )
    timings["write"] = time.perf_counter() - clock - sum(timings.values())
    return timings


def derive(p: pd.DataFrame, data: rules.RuleData) -> pd.DataFrame:
    total, active = Analyte.B12_TOTAL.value, Analyte.B12_ACTIVE.value
    idx = p.index

    def has(analyte: Analyte) -> pd.Series:
        return p[f"{analyte.value}_date"].notna()

    for name, before in ((total, p["total_before"]), (active, p["active_before"])):
        sample = p[f"{name}_date"]
        p[f"{name}_recent"] = (before >= sample - pd.Timedelta(days=RECENT_INJECTION_DAYS)).fillna(False)
        p[f"{name}_established"] = (
            (p["first_injection"] <= sample - pd.DateOffset(months=data.established_months))
            & (before >= sample - pd.DateOffset(months=data.maintenance_months))
        ).fillna(False)
    t = bands(data, p[f"{total}_scale"].astype(float), p[f"{total}_value"].astype(float))
    a = bands(data, p[f"{active}_scale"].astype(float), p[f"{active}_value"].astype(float))
    t_classified = t["status"].notna() & ~p[f"{total}_recent"]
    a_classified = a["status"].notna() & ~p[f"{active}_recent"]
    t_eff = t["status"].where(t_classified)
    a_eff = a["status"].where(a_classified)
    status = np.select(
        [(t_eff == s.value) | (a_eff == s.value) for s in (Status.CONFIRMED, Status.INDETERMINATE, Status.UNLIKELY)],
        [Status.CONFIRMED.value, Status.INDETERMINATE.value, Status.UNLIKELY.value],
        Status.NOT_ASSESSABLE.value,
    )
    status = pd.Series(status, index=idx)
    status_rule = pd.Series(np.select([t_eff == status, a_eff == status], [t["rule"], a["rule"]], None), index=idx)
    b12_date = pd.concat([p[f"{total}_date"], p[f"{active}_date"]], axis=1).max(axis=1)
    male = p["sex"] == "male"
    hb_limit = np.select(
        [p["pregnant"], male], [ANAEMIA_HB_BELOW_G_L_PREGNANT, ANAEMIA_HB_BELOW_G_L_MEN], ANAEMIA_HB_BELOW_G_L_WOMEN
    )
    mcv = p[f"{Analyte.MCV.value}_value"].astype(float)
    folate = p[f"{Analyte.FOLATE.value}_value"].astype(float)
    anaemia = (p[f"{Analyte.HEMOGLOBIN.value}_value"].astype(float) < hb_limit).fillna(False)
    macro = (mcv > DEFAULT_MCV_CUTOFF_FL).fillna(False)
    raised_mma = p[f"{Analyte.MMA.value}_flag"].fillna(False).astype(bool)
    untreated = p["last_injection"].isna() | (p["last_injection"] < b12_date) | b12_date.isna()
    strong = p["neurological"] | (anaemia & macro)
    established = p["long_term"] | p[f"{total}_established"] | p[f"{active}_established"]
    has_b12 = has(Analyte.B12_TOTAL) | has(Analyte.B12_ACTIVE)
    confirmed = status == Status.CONFIRMED.value
    indeterminate = status == Status.INDETERMINATE.value
    t_raised = t["raised"].fillna(False).astype(bool)
    a_raised = a["raised"].fillna(False).astype(bool)
    findings = joined(
        [
            (anaemia, "anaemia:LAB-HB"),
            (macro, "macrocytosis:LAB-MCV"),
            (mcv.notna() & ~macro & confirmed, "normal_mcv:LAB-MCV"),
            (folate < FOLATE_DEFICIENT_BELOW_NMOL_L, "folate_deficiency:LAB-FOLATE"),
            (
                (folate >= FOLATE_DEFICIENT_BELOW_NMOL_L) & (folate <= FOLATE_INDETERMINATE_UP_TO_NMOL_L),
                "folate_indeterminate:LAB-FOLATE",
            ),
            (raised_mma, "raised_mma:DX-MMA"),
            (p[f"{Analyte.HOMOCYSTEINE.value}_flag"].fillna(False).astype(bool), "raised_homocysteine:LAB-HCY"),
            (t_classified & t_raised, "raised_b12:" + t["rule"].fillna("")),
            (a_classified & a_raised, "raised_b12:" + a["rule"].fillna("")),
            (
                t_classified & p[f"{total}_converted"].fillna(False).astype(bool),
                "converted_for_scale:" + t["rule"].fillna(""),
            ),
            (
                a_classified & p[f"{active}_converted"].fillna(False).astype(bool),
                "converted_for_scale:" + a["rule"].fillna(""),
            ),
            (
                (has(Analyte.B12_TOTAL) & ~p[f"{total}_recent"] & t["status"].isna())
                | (has(Analyte.B12_ACTIVE) & ~p[f"{active}_recent"] & a["status"].isna()),
                "b12_not_classified:DX-NO-SCALE",
            ),
            (t_classified & a_classified & (t["status"] != a["status"]), "b12_tests_disagree:DX-TWO-TESTS"),
            (p["pregnant"] & ~has(Analyte.B12_ACTIVE) & has(Analyte.B12_TOTAL), "pregnancy_total_b12:DX-PREG"),
        ],
        idx,
    )
    next_preg = p["pregnant"] & ~has(Analyte.B12_ACTIVE)
    next_total = ~next_preg & ~has(Analyte.B12_TOTAL) & ~has(Analyte.B12_ACTIVE) & ~p["nitrous_oxide"]
    next_hcy = p["nitrous_oxide"] & ~has(Analyte.HOMOCYSTEINE)
    next_mma = indeterminate & p["has_symptoms"] & ~has(Analyte.MMA)
    next_tests = joined(
        [
            (next_preg, "b12_active:DX-PREG"),
            (next_total, "b12_total:DX-TEST"),
            (next_hcy, "homocysteine:DX-N2O"),
            (next_mma, "mma:DX-MMA"),
        ],
        idx,
    )
    due, due_preg = data.review_due_before(pregnant=False), data.review_due_before(pregnant=True)
    if due is not None and due_preg is not None:
        review_due = pd.Series(np.where(p["pregnant"], pd.Timestamp(due_preg), pd.Timestamp(due)), index=idx)
        review_overdue = (
            (p["first_injection"] <= review_due)
            & (p["last_result"].isna() | (p["last_result"] <= p["first_injection"]))
        ).fillna(False)
    else:
        review_overdue = pd.Series(False, index=idx)
    injection_overdue = (p["last_injection"] < pd.Timestamp(data.injection_due_before)).fillna(False)
    recent = p[f"{total}_recent"] | p[f"{active}_recent"]
    retested = established & has_b12
    n2o_total_only = p["nitrous_oxide"] & has(Analyte.B12_TOTAL) & ~has(Analyte.HOMOCYSTEINE) & ~has(Analyte.MMA)
    no_mma = indeterminate & p["has_symptoms"] & ~has(Analyte.MMA)
    discordant = strong & ~confirmed
    flags = joined(
        [
            (injection_overdue, f"injection_overdue:{data.maintenance_rule}"),
            (review_overdue, "review_overdue:FU-UK"),
            (recent, "recent_injection:DX-RECENT-INJ"),
            (retested, "retested_on_replacement:FU-NO-RETEST"),
            (n2o_total_only, "n2o_total_b12_only:DX-N2O"),
            (no_mma, "indeterminate_symptoms_no_mma:DX-MMA"),
            (discordant, "strong_features_not_confirmed:DX-DISCORD"),
        ],
        idx,
    )
    urgent = confirmed & p["neurological"] & untreated
    high = (confirmed & untreated) | (discordant & untreated) | injection_overdue
    anything = next_preg | next_total | next_hcy | next_mma | review_overdue | recent | retested | n2o_total_only
    priority = np.select([urgent, high, anything | indeterminate], [1, 2, 3], 4)
    not_classified = has_b12 & ~t_classified & ~a_classified & ~recent
    actions = [
        (urgent, rules_text("NEURO-URGENT"), "NEURO-URGENT"),
        (discordant & untreated, rules_text("DX-DISCORD"), "DX-DISCORD"),
        (confirmed & untreated, rules_text("confirmed"), status_rule),
        (injection_overdue, rules_text("overdue"), data.maintenance_rule),
        (retested, rules_text("FU-NO-RETEST"), "FU-NO-RETEST"),
        (recent, rules_text("DX-RECENT-INJ"), "DX-RECENT-INJ"),
        (next_preg, rules_text("DX-PREG"), "DX-PREG"),
        (next_hcy, rules_text("DX-N2O"), "DX-N2O"),
        (next_mma, rules_text("DX-MMA"), "DX-MMA"),
        (next_total, rules_text("DX-TEST"), "DX-TEST"),
        (review_overdue, rules_text("FU-UK review"), "FU-UK"),
        (indeterminate, rules_text("indeterminate"), status_rule),
        (confirmed, rules_text("treated"), "FU-UK"),
        (not_classified, rules_text("DX-NO-SCALE"), "DX-NO-SCALE"),
        (status == Status.UNLIKELY.value, rules_text("unlikely"), status_rule),
    ]
    conditions = [c.fillna(False).to_numpy(bool) for c, _, _ in actions]
    action = np.select(conditions, [a for _, a, _ in actions], "No action from these results")
    action_rule = np.select(
        conditions, [r.to_numpy(object) if isinstance(r, pd.Series) else r for _, _, r in actions], None
    )
    out = pd.DataFrame(
        {
            "patient_id": idx,
            "status": status.to_numpy(),
            "priority": priority.astype("int32"),
            "priority_label": [rules.PRIORITY_LABELS[int(x)] for x in priority],
            "action": action,
            "action_rule": action_rule,
            "flags": flags.to_numpy(),
            "findings": findings.to_numpy(),
            "next_tests": next_tests.to_numpy(),
        },
        index=idx,
    )
    for analyte in rules.REPORTED:
        name = analyte.value
        out[f"{name}_value"] = p[f"{name}_value"].astype(float)
        out[f"{name}_unit"] = p[f"{name}_unit"]
        out[f"{name}_date"] = pd.to_datetime(p[f"{name}_date"]).dt.date
        if name == total:
            out["b12_total_band"] = t["label"]
        if name == active:
            out["b12_active_band"] = a["label"]
    out["first_injection"] = pd.to_datetime(p["first_injection"]).dt.date
    out["last_injection"] = pd.to_datetime(p["last_injection"]).dt.date
    out["injections"] = p["injections"].astype("int64")
    out["results"] = p["results"].fillna(0).astype("int64")
    out["rejected_rows"] = (p["rows"].fillna(0) - p["results"].fillna(0)).astype("int64")
    out["sex"] = p["sex"]
    out["pregnant"] = p["pregnant"].astype(bool)
    return out[[f.name for f in rules.OUTPUT_SCHEMA]].astype(object).where(lambda d: d.notna(), None)


def rules_text(key: str) -> str:
    """The action texts, as rules.py writes them."""
    return ACTION_TEXT[key]


ACTION_TEXT = {
    "NEURO-URGENT": "Treat without waiting for further tests and seek urgent specialist advice: confirmed deficiency "
    "with neurological symptoms",
    "DX-DISCORD": "Do not delay treatment: strong clinical features with a B12 result that does not confirm deficiency",
    "confirmed": "Deficiency confirmed: start treatment as the guideline says",
    "overdue": "Maintenance injection overdue: give the next injection",
    "FU-NO-RETEST": "Established on long-term replacement: do not re-test B12 or adjust treatment by it",
    "DX-RECENT-INJ": "B12 taken within 14 days after an injection is uninterpretable: do not act on it",
    "DX-PREG": "Request active B12 (holotranscobalamin): the initial test in pregnancy",
    "DX-N2O": "Request plasma homocysteine: suspected nitrous oxide use",
    "DX-MMA": "Consider serum MMA: indeterminate B12 with symptoms",
    "DX-TEST": "No B12 result: offer total or active B12 if there is a symptom and a risk factor",
    "FU-UK review": "Treatment review overdue: book the review",
    "indeterminate": "Indeterminate B12: consider treatment if deficiency is suspected",
    "treated": "Deficiency confirmed and treated since: continue and review as planned",
    "DX-NO-SCALE": "B12 not classified by this threshold set: use a set with a scale for it",
    "unlikely": "Deficiency unlikely: no action from these results",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("observations", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--administrations", type=Path)
    parser.add_argument("--patients", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 1, 1))
    args = parser.parse_args(argv)
    timings = triage(args.observations, args.out, args.as_of, args.administrations, args.patients)
    print(" ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
