"""The ``b12`` command: exit codes (0 ok, 1 internal, 2 bad input), one-line errors, and what it prints.

Most tests call :func:`b12.adapters.cli.main` in-process and read stdout and stderr with ``capsys``; a few run
the installed ``b12`` script, so that the console entry point and the absence of tracebacks are checked for real.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import b12.services
from b12.adapters.cli import app as cli_app
from b12.adapters.cli import main
from b12.adapters.cli.app import run_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
B12_SCRIPT = Path(sys.executable).parent / "b12"
PLAN_SCHEMA = json.loads((ROOT / "docs" / "plan.schema.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The single line on stderr of a failed command; fails the test if there is more than one."""
        assert self.out == "", f"a failed command printed to stdout: {self.out!r}"
        assert "Traceback" not in self.err
        lines = self.err.splitlines()
        assert len(lines) == 1, f"stderr is not exactly one line: {self.err!r}"
        assert self.err.endswith("\n")
        assert lines[0].startswith("b12: ")
        return lines[0]

    def json(self) -> Any:
        assert self.code == 0, self.err
        assert self.err == ""
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich output as a pipe gets it: no colour codes, and wide enough that no line is wrapped."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def typer_cli(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str) -> Result:
        code = run_app(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_script(*args: str, stdin: str | None = None) -> Result:
    done = subprocess.run(
        [str(B12_SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def example(name: str) -> Path:
    return ROOT / "examples" / f"{name}.json"


def write_case(tmp_path: Path, data: object) -> str:
    path = tmp_path / "case.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


MINIMAL: dict[str, Any] = {
    "guideline": "uk",
    "start": "2026-01-05",
    "patient": {"sex": "female"},
    "labs": [{"test": "b12_total", "value": 150, "unit": "ng/L"}],
}


# --- convert --------------------------------------------------------------------------------------------


def test_convert_turns_1000_mcg_into_1_mg(cli: Any) -> None:
    result = cli("convert", "1000", "mcg", "mg")

    assert (result.code, result.out, result.err) == (0, "1000 mcg = 1 mg\n", "")


def test_convert_reads_the_analyte_alias_b12_as_total_b12_and_shows_the_factor_it_used(cli: Any) -> None:
    result = cli("convert", "250", "pg/mL", "pmol/L", "--analyte", "b12")

    assert result.code == 0
    assert result.err == ""
    assert result.out == "250 pg/mL = 184.5 pmol/L  (b12_total, pg/mL × 0.738 = pmol/L)\n"


def test_convert_from_mass_to_amount_without_an_analyte_exits_2_naming_the_analytes_it_knows(cli: Any) -> None:
    result = cli("convert", "250", "pg/mL", "pmol/L")

    assert result.code == 2
    line = result.error_line()
    assert "molar mass" in line
    assert "b12_total" in line


def test_convert_refuses_international_units_for_b12_and_says_why(cli: Any) -> None:
    result = cli("convert", "1000", "IU", "mg")

    assert result.code == 2
    line = result.error_line()
    assert "no IU conversion for B12" in line
    assert "mcg or mg" in line


def test_convert_with_an_unknown_unit_lists_the_units_b12_accepts(cli: Any) -> None:
    result = cli("convert", "1", "furlong", "mg")

    assert result.code == 2
    line = result.error_line()
    assert "'furlong'" in line
    for accepted in ("mcg", "mg", "pg/mL", "pmol/L", "g/dL"):
        assert accepted in line


@pytest.mark.parametrize(
    ("value", "reason"),
    [("-5", "negative"), ("0", "above zero"), ("nan", "not a number"), ("inf", "infinite")],
    ids=["negative", "zero", "nan", "infinite"],
)
def test_convert_refuses_a_value_that_is_not_a_positive_finite_number(cli: Any, value: str, reason: str) -> None:
    result = cli("convert", value, "mcg", "mg")

    assert result.code == 2
    assert reason in result.error_line()


def test_convert_refuses_a_value_that_is_not_a_number(cli: Any) -> None:
    result = cli("convert", "abc", "mcg", "mg")

    assert result.code == 2
    assert result.error_line().startswith("b12: Cannot read 'abc mcg' as an amount: write a number")


def test_convert_with_an_unknown_analyte_lists_the_analytes(cli: Any) -> None:
    result = cli("convert", "250", "pg/mL", "pmol/L", "--analyte", "vitamin-q")

    assert result.code == 2
    line = result.error_line()
    assert "'vitamin-q'" in line
    assert "b12, b12_total" in line


def test_convert_with_a_missing_argument_exits_2_pointing_to_help(cli: Any) -> None:
    result = cli("convert", "1000", "mcg")

    assert result.code == 2
    assert "b12 convert --help" in result.error_line()


AMOUNT_FORMS = [("1000 mcg", "mg"), ("1000mcg", "mg"), ("1000", "mcg", "mg"), (" 1000  mcg ", "mg")]


@pytest.mark.parametrize("args", AMOUNT_FORMS, ids=["one-argument", "no-space", "two-arguments", "spaces"])
@pytest.mark.parametrize("path", ["quick", "typer"])
def test_convert_reads_the_amount_and_its_unit_as_one_argument_or_two(
    cli: Any, typer_cli: Any, path: str, args: tuple[str, ...]
) -> None:
    result = (cli if path == "quick" else typer_cli)("convert", *args)

    assert (result.code, result.out, result.err) == (0, "1000 mcg = 1 mg\n", "")


def test_the_script_converts_1000_mcg_given_as_one_argument_to_mg() -> None:
    result = run_script("convert", "1000 mcg", "mg")

    assert (result.code, result.out, result.err) == (0, "1000 mcg = 1 mg\n", "")


def test_convert_takes_the_analyte_option_between_the_amount_and_the_unit_wanted(cli: Any) -> None:
    between = cli("convert", "250", "pg/mL", "--analyte", "b12", "pmol/L")
    after = cli("convert", "250 pg/mL", "pmol/L", "--analyte", "b12")

    assert between.code == 0, between.err
    assert between.out.startswith("250 pg/mL = 184.5 pmol/L")
    assert between == after


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((), "b12: the amount and the unit to convert to are missing; usage: b12 convert AMOUNT TO_UNIT"),
        (("1000",), "b12: the unit to convert 1000 to is missing; usage: b12 convert AMOUNT TO_UNIT"),
        (("1000 mcg",), "b12: the unit to convert 1000 mcg to is missing; usage: b12 convert AMOUNT TO_UNIT"),
        (("1000", "mcg"), "b12: the unit to convert 1000 mcg to is missing; usage: b12 convert AMOUNT TO_UNIT"),
        (("1000mcg", "mg", "ug"), "b12: too many arguments: '1000mcg' already has its unit, then 'mg'; usage:"),
        (("1000", "mcg", "mg", "ug"), "b12: too many arguments (1000 mcg mg ug); usage: b12 convert"),
    ],
    ids=["nothing", "a-number", "an-amount", "a-number-and-its-unit", "an-amount-and-two-units", "four"],
)
@pytest.mark.parametrize("path", ["quick", "typer"])
def test_convert_with_arguments_missing_or_too_many_gives_the_usage_with_an_example(
    cli: Any, typer_cli: Any, path: str, args: tuple[str, ...], problem: str
) -> None:
    result = (cli if path == "quick" else typer_cli)("convert", *args)

    assert result.code == 2
    line = result.error_line()
    assert line.startswith(problem)
    assert "e.g. b12 convert 1000 mcg mg, b12 convert '1000 mcg' mg or b12 convert 1000mcg mg" in line
    assert line.endswith("(see 'b12 convert --help')")


def test_help_for_convert_shows_the_amount_as_one_argument_or_two(cli: Any) -> None:
    result = cli("convert", "--help")

    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "Usage: b12 convert [OPTIONS] AMOUNT [UNIT] TO_UNIT Convert a dose" in text
    assert "'1000 mcg', 1000mcg or 1000 mcg" in text


# The number in an amount is the domain's to read (REFERENCE-audited: no exponent, no separator, no comma);
# the command line must accept and refuse exactly what units.parse_quantity does, with its reason.
# (click reads "-5" as an option; b12 convert reaches the Typer app only for --help.)
NUMBERS = ["1000", "0.5", ".5", "+1000", "1e3", "1E-3", "1_000", "1,000", "１０００", "nan", "inf", "-5", "−5", "0x10"]
NUMBER_CASES = [("quick", n) for n in NUMBERS] + [("typer", n) for n in NUMBERS if not n.startswith("-")]


@pytest.mark.parametrize(("path", "number"), NUMBER_CASES)
def test_convert_reads_a_number_as_the_domain_does(cli: Any, typer_cli: Any, path: str, number: str) -> None:
    from b12.domain.errors import UnitError
    from b12.domain.units import parse_quantity

    run = cli if path == "quick" else typer_cli
    try:
        expected, refusal = parse_quantity(f"{number} mcg"), ""
    except UnitError as error:
        expected, refusal = None, f"b12: {error}"

    if expected is None:
        for args in (("convert", number, "mcg", "mg"), ("convert", f"{number} mcg", "mg")):
            result = run(*args)
            assert result.code == 2
            assert result.error_line() == refusal
    else:
        result = run("convert", number, "mcg", "mg")
        assert result.code == 0, result.err
        assert result.out == f"{expected.value:g} mcg = {expected.to('mg')}\n"


@pytest.mark.parametrize("number", ["1e3", "1_000"])
def test_convert_refuses_a_number_with_an_exponent_or_a_separator_that_float_would_read(cli: Any, number: str) -> None:
    result = cli("convert", number, "mcg", "mg")

    assert result.code == 2
    assert "without an exponent or separator" in result.error_line()


STRENGTH_TO_VOLUME = [
    (("1", "mg/mL", "mL"), "'1 mg/mL'", "U-100"),
    (("1 mg/mL", "units"), "'1 mg/mL'", "U-100"),
    (("1000mcg/mL", "U-40"), "'1000mcg/mL'", "U-40"),
    (("5 mg/2 mL", "mL"), "'5 mg/2 mL'", "U-100"),
]


@pytest.mark.parametrize(
    ("args", "strength", "syringe"), STRENGTH_TO_VOLUME, ids=["to-ml", "to-units", "to-a-syringe", "per-2-ml"]
)
@pytest.mark.parametrize("path", ["quick", "typer"])
def test_convert_of_a_strength_to_a_volume_or_syringe_units_says_to_use_b12_dose_with_an_example(
    cli: Any, typer_cli: Any, path: str, args: tuple[str, ...], strength: str, syringe: str
) -> None:
    result = (cli if path == "quick" else typer_cli)("convert", *args)

    assert result.code == 2
    line = result.error_line()
    assert line.startswith(f"b12: {strength} is a strength (a weight per volume), not an amount to convert")
    assert line.endswith(f"e.g. b12 dose 1 mg --strength {strength} --syringe {syringe}")
    assert "only accepts units it lists" not in line


def test_convert_of_a_strength_to_a_weight_still_names_the_unknown_unit(cli: Any) -> None:
    result = cli("convert", "1", "mg/mL", "mg")

    assert result.code == 2
    assert result.error_line().startswith("b12: Unknown unit 'mg/mL'")


SYRINGE_UNITS_AS_AMOUNT = [
    ("dose", "10", "units", "--strength", "1mg/mL"),
    ("dose", "10 U", "-s", "1mg/mL"),
    ("convert", "10", "units", "mg"),
    ("convert", "1", "mg", "U"),
]


@pytest.mark.parametrize("args", SYRINGE_UNITS_AS_AMOUNT, ids=[" ".join(a) for a in SYRINGE_UNITS_AS_AMOUNT])
def test_units_as_an_amount_are_explained_as_syringe_volume_marks_pointing_to_b12_dose(
    cli: Any, args: tuple[str, ...]
) -> None:
    result = cli(*args)

    assert result.code == 2
    line = result.error_line()
    assert "no IU conversion for B12" in line
    assert "On an insulin syringe, units are volume marks" in line
    assert "on a U-100 syringe 100 units = 1 mL" in line
    assert "b12 dose DOSE --strength S --syringe U-100" in line


def test_international_units_are_not_explained_as_syringe_marks(cli: Any) -> None:
    line = cli("convert", "1000", "IU", "mg").error_line()

    assert "no IU conversion for B12" in line
    assert "volume marks" not in line
    assert "b12 dose" not in line


# --- dose -----------------------------------------------------------------------------------------------


def test_dose_of_1_mg_from_1000_mcg_per_ml_is_1_ml_or_100_units_on_a_u100_syringe(cli: Any) -> None:
    result = cli("dose", "1", "mg", "--strength", "1000mcg/mL", "--syringe", "U-100")

    assert result.code == 0
    assert result.err == ""
    assert result.out.splitlines() == [
        "1 mg from 1000 µg/mL = draw 1 mL = 100 units on a U-100 syringe",
        "(U-100: 100 units = 1 mL; syringe units are volume marks, not international units)",
    ]


def test_dose_of_30_mcg_warns_that_3_units_are_hard_to_measure(cli: Any) -> None:
    result = cli("dose", "30", "mcg", "--strength", "1000mcg/mL")

    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "30 µg from 1000 µg/mL = draw 0.03 mL = 3 units on a U-100 syringe"
    assert lines[-1].startswith("warning: 3 units (0.03 mL) is hard to measure")


def test_dose_on_a_u40_syringe_is_40_units_per_ml(cli: Any) -> None:
    result = cli("dose", "1", "mg", "-s", "1000mcg/mL", "--syringe", "U-40")

    assert result.code == 0
    assert result.out.splitlines()[0] == "1 mg from 1000 µg/mL = draw 1 mL = 40 units on a U-40 syringe"


def test_dose_without_a_syringe_gives_the_volume_only(cli: Any) -> None:
    result = cli("dose", "1", "mg", "--strength", "1000mcg/mL", "--syringe", "none")

    assert (result.code, result.out, result.err) == (0, "1 mg from 1000 µg/mL = draw 1 mL\n", "")


def test_dose_rounds_the_volume_to_4_decimals_and_the_units_to_2_as_the_web_calculator_does(cli: Any) -> None:
    from b12.adapters.web.calculator import calculate
    from b12.adapters.web.forms import FormState

    result = cli("dose", "1", "mg", "--strength", "3 mg/mL")
    web = calculate(FormState({"dose": "1 mg", "strength": "3 mg/mL", "syringe": "U-100"}))

    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "1 mg from 3 mg/mL = draw 0.3333 mL = 33.33 units on a U-100 syringe"
    assert web is not None
    assert (web.volume_ml, web.syringe_units) == ("0.3333", "33.33")


@pytest.mark.parametrize("args", [("1 mg",), ("1mg",), ("1", "mg")], ids=["one-argument", "no-space", "two"])
@pytest.mark.parametrize("path", ["quick", "typer"])
def test_dose_reads_the_dose_and_its_unit_as_one_argument_or_two(
    cli: Any, typer_cli: Any, path: str, args: tuple[str, ...]
) -> None:
    result = (cli if path == "quick" else typer_cli)("dose", *args, "--strength", "1000mcg/mL")

    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "1 mg from 1000 µg/mL = draw 1 mL = 100 units on a U-100 syringe"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--strength", "1mg/mL"), "b12: the dose is missing; usage: b12 dose DOSE --strength STRENGTH"),
        (("1", "mg"), "b12: the product strength (--strength) is missing; usage: b12 dose DOSE --strength"),
        (("1mg", "mg", "-s", "1mg/mL"), "b12: too many arguments: '1mg' already has its unit, then 'mg'; usage:"),
    ],
    ids=["no-dose", "no-strength", "too-many"],
)
@pytest.mark.parametrize("path", ["quick", "typer"])
def test_dose_with_arguments_missing_or_too_many_gives_the_usage_with_an_example(
    cli: Any, typer_cli: Any, path: str, args: tuple[str, ...], problem: str
) -> None:
    result = (cli if path == "quick" else typer_cli)("dose", *args)

    assert result.code == 2
    line = result.error_line()
    assert line.startswith(problem)
    assert "e.g. b12 dose 1 mg --strength 1mg/mL" in line
    assert line.endswith("(see 'b12 dose --help')")


def test_dose_without_a_strength_exits_2(cli: Any) -> None:
    result = cli("dose", "1", "mg")

    assert result.code == 2
    assert "--strength" in result.error_line()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("1000", "IU", "--strength", "1000mcg/mL"), "no IU conversion for B12"),
        (("1", "mg", "--strength", "banana"), "'banana'"),
        (("1", "mg", "--strength", "1mg/mL", "--syringe", "U-50"), "U-100, U-40"),
        (("-1", "mg", "--strength", "1mg/mL"), "negative"),
    ],
    ids=["international-units", "unreadable-strength", "unknown-syringe", "negative-dose"],
)
def test_dose_with_bad_input_exits_2_with_one_line(cli: Any, args: tuple[str, ...], expected: str) -> None:
    result = cli("dose", *args)

    assert result.code == 2
    assert expected in result.error_line()


# --- the quick path and the Typer path agree --------------------------------------------------------------

SAME_ON_BOTH_PATHS = [
    ("convert", "1000", "mcg", "mg"),
    ("convert", "250", "pg/mL", "pmol/L", "--analyte", "b12"),
    ("convert", "250", "pg/mL", "pmol/L", "-a", "holotc"),
    ("convert", "10.4", "g/dL", "g/L"),
    ("convert", "1000", "IU", "mg"),
    ("convert", "250", "pg/mL", "pmol/L"),
    ("convert", "1", "furlong", "mg"),
    ("convert", "0", "mcg", "mg"),
    ("dose", "1", "mg", "--strength", "1000mcg/mL", "--syringe", "U-100"),
    ("dose", "30", "mcg", "--strength", "1000mcg/mL"),
    ("dose", "1", "mg", "-s", "1 mg/mL", "--syringe", "U-40"),
    ("dose", "1", "mg", "--strength", "1000mcg/mL", "--syringe", "none"),
    ("dose", "1", "mg", "--strength", "banana"),
]


@pytest.mark.parametrize("args", SAME_ON_BOTH_PATHS, ids=[" ".join(a) for a in SAME_ON_BOTH_PATHS])
def test_the_quick_path_and_the_typer_app_print_the_same_for_convert_and_dose(
    cli: Any, typer_cli: Any, args: tuple[str, ...]
) -> None:
    quick = cli(*args)
    typer = typer_cli(*args)

    assert quick == typer
    assert "Traceback" not in quick.err


def test_convert_and_dose_start_without_importing_typer_rich_or_pint() -> None:
    code = (
        "import sys\n"
        "from b12.adapters.cli import main\n"
        "assert main(['convert', '1000', 'mcg', 'mg']) == 0\n"
        "assert main(['dose', '1', 'mg', '--strength', '1000mcg/mL']) == 0\n"
        "print(sorted(m for m in ('typer', 'rich', 'pint', 'pydantic') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout.splitlines()[-1] == "[]"


# --- help -----------------------------------------------------------------------------------------------

COMMANDS = [
    [],
    ["convert"],
    ["dose"],
    ["interpret"],
    ["plan"],
    ["compare"],
    ["guidelines"],
    ["guidelines", "show"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) or "b12" for c in COMMANDS])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_works_for_every_command(cli: Any, command: list[str], flag: str) -> None:
    result = cli(*command, flag)

    assert result.code == 0, result.err
    assert result.err == ""
    assert "Usage: b12" in result.out
    assert " ".join(["b12", *command]) in result.out


def test_b12_without_a_command_prints_the_help_and_exits_2(cli: Any) -> None:
    result = cli()

    assert result.code == 2
    assert result.err == ""
    assert "Usage: b12" in result.out
    for command in ("convert", "dose", "interpret", "plan", "compare", "guidelines"):
        assert command in result.out


def test_help_for_convert_goes_through_typer_and_describes_the_arguments(cli: Any) -> None:
    result = cli("convert", "1000", "mcg", "--help")

    assert result.code == 0
    assert "--analyte" in result.out
    assert "Convert a dose or a lab value between units" in result.out


def test_an_unknown_command_exits_2_with_one_line(cli: Any) -> None:
    result = cli("transmogrify")

    assert result.code == 2
    line = result.error_line()
    assert "transmogrify" in line
    assert "b12 --help" in line


def test_an_unknown_option_exits_2_with_one_line_naming_it(cli: Any) -> None:
    result = cli("plan", "--sex", "female", "--bogus")

    assert result.code == 2
    line = result.error_line()
    assert "--bogus" in line
    assert "b12 plan --help" in line


def test_an_option_value_of_the_wrong_type_exits_2_with_one_line(cli: Any) -> None:
    result = cli("plan", "--sex", "female", "--age", "sixty")

    assert result.code == 2
    assert "--age" in result.error_line()


# --- interpret ------------------------------------------------------------------------------------------


def test_interpret_from_flags_confirms_deficiency_for_total_b12_of_150_ng_per_l(cli: Any) -> None:
    result = cli("interpret", "--lab", "b12_total=150 ng/L", "--sex", "female")

    assert result.code == 0, result.err
    assert result.err == ""
    assert "Status: confirmed" in result.out
    assert "nice-ng239" in result.out
    assert "110.7 pmol/L" in result.out
    assert "\x1b[" not in result.out


def test_tables_take_colour_from_the_environment_at_print_time(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("interpret", "--lab", "b12_total=150 ng/L", "--sex", "female")

    plain = cli(*args)
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = cli(*args)

    assert "\x1b[" not in plain.out
    assert "\x1b[" in coloured.out


def test_interpret_as_json_gives_the_status_the_normalised_result_and_the_alerts(cli: Any) -> None:
    data = cli("interpret", "--lab", "b12_total=150 ng/L@2025-12-18", "--sex", "female", "--json").json()

    assert data["status"] == "confirmed"
    assert data["threshold_set"]["id"] == "nice-ng239"
    [result] = data["normalised"]
    assert (result["test"], result["value"], result["unit"], result["date"]) == (
        "b12_total",
        150.0,
        "ng/L",
        "2025-12-18",
    )
    assert isinstance(data["alerts"], list)


def test_interpret_as_json_matches_the_interpretation_in_the_plan(cli: Any) -> None:
    interpretation = cli("interpret", "--input", str(example("pernicious-anaemia")), "--json").json()
    plan = cli("plan", "--input", str(example("pernicious-anaemia")), "--json").json()

    interpretation.pop("alerts")
    assert interpretation == plan["interpretation"]


def test_interpret_with_a_lab_flag_without_a_unit_exits_2_naming_the_flag(cli: Any) -> None:
    result = cli("interpret", "--lab", "b12_total=150ng/L", "--sex", "female")

    assert result.code == 2
    assert result.error_line().startswith("b12: --lab #1:")


def test_interpret_with_an_unknown_test_exits_2_naming_labs_0_test(cli: Any) -> None:
    result = cli("interpret", "--lab", "b12=150 ng/L", "--sex", "female")

    assert result.code == 2
    assert result.error_line().startswith("b12: labs[0].test: 'b12' is not a test b12 knows")


# --- plan -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_plan_of_every_example_as_json_validates_against_the_plan_schema(cli: Any, path: Path) -> None:
    data = cli("plan", "--input", str(path), "--json").json()

    validator = Draft202012Validator(PLAN_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(data)] == []
    assert data["horizon"]["start"] == "2026-01-05"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_plan_of_every_example_prints_tables_with_the_disclaimer(cli: Any, path: Path) -> None:
    result = cli("plan", "--input", str(path))

    assert result.code == 0, result.err
    assert result.err == ""
    assert "Recommendation:" in result.out
    assert "Rules applied:" in result.out
    assert "a clinician decides" in result.out
    assert "\x1b[" not in result.out


def test_plan_of_pernicious_anaemia_recommends_hydroxocobalamin_im_with_100_units_a_dose(cli: Any) -> None:
    data = cli("plan", "--input", str(example("pernicious-anaemia")), "--json").json()

    assert data["recommendation"]["regimen"] == "UK-IM-NN"
    assert data["schedule"][0] == {
        "date": "2026-01-05",
        "phase": "loading",
        "kind": "loading",
        "dose_mg": 1.0,
        "route": "im",
        "product": "hydroxocobalamin",
        "volume_ml": 1.0,
        "syringe_units": 100.0,
        "provisional": False,
    }


def test_plan_lists_every_dose_only_with_all_doses(cli: Any) -> None:
    short = cli("plan", "--input", str(example("pernicious-anaemia")))
    full = cli("plan", "--input", str(example("pernicious-anaemia")), "--all-doses")

    assert "--all-doses to list them" not in full.out
    assert full.out.count("hydroxocobalamin") >= short.out.count("hydroxocobalamin")


FLAGS_FOR_EXAMPLE = {
    "pernicious-anaemia": [
        "--guideline", "uk", "--start", "2026-01-05", "--sex", "female", "--age", "62",
        "--lab", "b12_total=150 ng/L@2025-12-18", "--lab", "hemoglobin=104 g/L@2025-12-18",
        "--lab", "mcv=108 fL@2025-12-18", "--symptom", "fatigue", "--symptom", "glossitis",
        "--cause", "autoimmune_gastritis", "--strength", "1 mg/mL",
    ],
    "us-label-pa": [
        "-g", "us-label", "--start", "2026-01-05", "--sex", "female", "--age", "62",
        "-l", "b12_total=150 pg/mL@2025-12-18", "-l", "hemoglobin=10.4 g/dL@2025-12-18",
        "-l", "mcv=108 fL@2025-12-18", "--symptom", "fatigue", "--symptom", "glossitis",
        "--cause", "autoimmune_gastritis", "--strength", "1000 mcg/mL", "--syringe", "U-100",
    ],
    "vegan-oral": [
        "--start", "2026-01-05", "--sex", "male", "--age", "27",
        "--lab", "b12_total=160 ng/L@2025-12-15", "--lab", "hemoglobin=135 g/L@2025-12-15",
        "--lab", "mcv=96 fL@2025-12-15", "--symptom", "fatigue", "--cause", "diet", "--route", "oral",
    ],
    "leber-hydroxocobalamin-only": [
        "--start", "2026-01-05", "--sex", "male", "--age", "24", "--lab", "b12_total=170 ng/L@2025-12-22",
        "--symptom", "vision", "--condition", "leber", "--strength", "1 mg/mL",
    ],
    "pregnant-active-b12": [
        "--start", "2026-01-05", "--sex", "female", "--age", "31", "--pregnant",
        "--lab", "b12_active=22 pmol/L@2025-12-29", "--lab", "hemoglobin=108 g/L@2025-12-29",
        "--symptom", "fatigue", "--symptom", "paraesthesia", "--cause", "diet", "--strength", "1 mg/mL",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FLAGS_FOR_EXAMPLE))
def test_plan_from_flags_is_the_plan_from_the_equivalent_case_file(cli: Any, name: str) -> None:
    from_flags = cli("plan", *FLAGS_FOR_EXAMPLE[name], "--json")
    from_file = cli("plan", "--input", str(example(name)), "--json")

    assert from_flags.code == 0, from_flags.err
    assert from_flags.out == from_file.out


def test_flags_override_the_case_file(cli: Any) -> None:
    data = cli("plan", "--input", str(example("pernicious-anaemia")), "--horizon", "3", "--syringe", "U-40", "--json")

    plan = data.json()
    assert plan["horizon"]["months"] == 3
    assert plan["product"] == {"strength": "1 mg/mL", "syringe": "U-40"}
    assert plan["schedule"][0]["syringe_units"] == 40.0


def test_plan_reads_the_case_from_stdin_with_input_dash(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    text = example("pernicious-anaemia").read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    from_stdin = cli("plan", "--input", "-", "--json")
    from_file = cli("plan", "--input", str(example("pernicious-anaemia")), "--json")

    assert from_stdin.code == 0, from_stdin.err
    assert from_stdin.out == from_file.out


def test_plan_start_today_reads_the_clock_in_the_adapter(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "_today", lambda: date(2030, 2, 28))

    plan = cli("plan", "--input", str(example("pernicious-anaemia")), "--start", "today", "--json").json()

    assert plan["horizon"]["start"] == "2030-02-28"
    assert plan["schedule"][0]["date"] == "2030-02-28"


def test_plan_without_a_start_begins_today(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "_today", lambda: date(2030, 2, 28))

    plan = cli("plan", "--sex", "female", "--lab", "b12_total=150 ng/L", "--json").json()

    assert plan["horizon"]["start"] == "2030-02-28"


def test_plan_with_an_impossible_start_date_exits_2_naming_start(cli: Any) -> None:
    result = cli("plan", "--sex", "female", "--start", "2026-02-30")

    assert result.code == 2
    assert result.error_line().startswith("b12: start: '2026-02-30' is not a real date")


# --- malformed cases ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"guideline": "uk",}', "b12: the case is not valid JSON: Expecting property name"),
        ("[1, 2]", "b12: --input: a case is a JSON object"),
        ({**MINIMAL, "guidline": "uk"}, "b12: guidline: is not a key b12 knows here"),
        (
            {**MINIMAL, "labs": [{"test": "hemoglobinn", "value": 104, "unit": "g/L"}]},
            "b12: labs[0].test: 'hemoglobinn' is not a test b12 knows",
        ),
        ({**MINIMAL, "labs": [{"test": "b12_total", "value": -3, "unit": "ng/L"}]}, "b12: labs[0].value: "),
        ({**MINIMAL, "patient": "female"}, "b12: patient: expected an object"),
        ({**MINIMAL, "preferences": ["oral"]}, "b12: preferences: expected an object"),
        ({**MINIMAL, "treatment": 1}, "b12: treatment: expected an object"),
        ({**MINIMAL, "preferences": {"route": "iv"}}, "b12: preferences.route: cyanocobalamin must not be given"),
        ({**MINIMAL, "start": "05/01/2026"}, "b12: start: '05/01/2026' is not a date"),
    ],
    ids=[
        "bad-json",
        "not-an-object",
        "unknown-key",
        "unknown-lab-test",
        "negative-lab-value",
        "patient-not-an-object",
        "preferences-not-an-object",
        "treatment-not-an-object",
        "intravenous-route",
        "not-a-date",
    ],
)
@pytest.mark.parametrize("command", ["plan", "interpret", "compare"])
def test_a_malformed_case_exits_2_naming_the_bad_field(
    cli: Any, tmp_path: Path, command: str, data: object, expected: str
) -> None:
    result = cli(command, "--input", write_case(tmp_path, data))

    assert result.code == 2
    assert result.error_line().startswith(expected)


@pytest.mark.parametrize(
    ("data", "flags", "expected"),
    [
        ({**MINIMAL, "patient": "female"}, ["--sex", "male"], "b12: patient: expected an object"),
        ({**MINIMAL, "preferences": [1]}, ["--route", "oral"], "b12: preferences: expected an object"),
        ({**MINIMAL, "treatment": 1}, ["--long-term-replacement"], "b12: treatment: expected an object"),
        ({**MINIMAL, "labs": 5}, ["--lab", "mcv=108 fL"], "b12: labs: expected a list"),
        ({**MINIMAL, "symptoms": "fatigue"}, ["--symptom", "gait"], "b12: symptoms: expected a list"),
        ({**MINIMAL, "preferences": {"overrides": "X"}}, ["--override", "SAFE-K"], "b12: preferences.overrides:"),
    ],
    ids=["patient", "preferences", "treatment", "labs", "symptoms", "overrides"],
)
def test_a_malformed_case_merged_with_flags_still_exits_2_naming_the_field(
    cli: Any, tmp_path: Path, data: object, flags: list[str], expected: str
) -> None:
    result = cli("plan", "--input", write_case(tmp_path, data), *flags)

    assert result.code == 2
    assert result.error_line().startswith(expected)


def test_flags_fill_a_list_or_object_that_the_case_file_gives_as_null(cli: Any, tmp_path: Path) -> None:
    data = {**MINIMAL, "labs": None, "symptoms": None, "preferences": None}
    path = write_case(tmp_path, data)

    plan = cli("plan", "--input", path, "--lab", "b12_total=150 ng/L", "--symptom", "gait", "--route", "im", "--json")

    assert plan.json()["interpretation"]["status"] == "confirmed"


def test_a_case_file_that_is_not_utf8_exits_2(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_bytes(b'\xff\xfe{"guideline": "uk"}')

    result = cli("plan", "--input", str(path))

    assert result.code == 2
    assert result.error_line().startswith("b12: --input:")


def test_a_missing_case_file_exits_2_naming_input(cli: Any, tmp_path: Path) -> None:
    result = cli("plan", "--input", str(tmp_path / "nowhere.json"))

    assert result.code == 2
    assert result.error_line().startswith("b12: --input: cannot read")


def test_a_malformed_case_on_stdin_exits_2_naming_the_field(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {**MINIMAL, "labs": [{"test": "b12", "value": 150, "unit": "ng/L"}]}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(bad)))

    result = cli("plan", "--input", "-", "--json")

    assert result.code == 2
    assert result.error_line().startswith("b12: labs[0].test:")


# --- compare --------------------------------------------------------------------------------------------


def test_compare_with_explicit_ids_prints_a_table_of_both(cli: Any) -> None:
    result = cli("compare", "UK-IM-NN", "US-FDA-CN", "--start", "2026-01-05")

    assert result.code == 0, result.err
    assert result.err == ""
    assert "Regimens from 2026-01-05" in result.out
    assert "UK-IM-NN" in result.out
    assert "US-FDA-CN" in result.out
    assert "\x1b[" not in result.out


def test_compare_as_json_has_one_row_per_id_in_order(cli: Any) -> None:
    data = cli("compare", "UK-IM-NN", "US-FDA-CN", "US-STABLER", "--start", "2026-01-05", "--json").json()

    assert data["start"] == "2026-01-05"
    assert [r["regimen"] for r in data["regimens"]] == ["UK-IM-NN", "US-FDA-CN", "US-STABLER"]
    assert data["regimens"][0]["first_8_weeks"]["injections"] > 0


def test_compare_with_input_compares_the_plans_regimen_and_its_alternatives(cli: Any) -> None:
    plan = cli("plan", "--input", str(example("pernicious-anaemia")), "--json").json()
    comparison = cli("compare", "--input", str(example("pernicious-anaemia")), "--json").json()

    recommendation = plan["recommendation"]
    assert [r["regimen"] for r in comparison["regimens"]] == [
        recommendation["regimen"],
        *recommendation["alternatives"],
    ]
    assert comparison["start"] == "2026-01-05"


@pytest.mark.parametrize(
    ("name", "regimen"), [("leber-hydroxocobalamin-only", "UK-TA-LEBER"), ("us-label-pa", "US-FDA-CN")]
)
def test_compare_with_input_whose_plan_has_no_alternative_exits_2_saying_so(cli: Any, name: str, regimen: str) -> None:
    result = cli("compare", "--input", str(example(name)))

    assert result.code == 2
    line = result.error_line()
    assert line.startswith(f"b12: --input: the plan for this case has only {regimen} and no alternative")


def test_compare_with_input_and_explicit_ids_uses_the_ids_and_the_case_start(cli: Any) -> None:
    data = cli("compare", "US-FDA-CN", "US-STABLER", "--input", str(example("us-label-pa")), "--json").json()

    assert [r["regimen"] for r in data["regimens"]] == ["US-FDA-CN", "US-STABLER"]
    assert data["start"] == "2026-01-05"


def test_compare_start_today_reads_the_clock_in_the_adapter(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "_today", lambda: date(2031, 7, 1))

    assert cli("compare", "UK-IM-NN", "UK-CN-NN", "--start", "today", "--json").json()["start"] == "2031-07-01"
    assert cli("compare", "UK-IM-NN", "UK-CN-NN", "--json").json()["start"] == "2031-07-01"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("UK-IM-NN",), "b12: regimens: compare needs at least two regimen IDs"),
        ((), "b12: regimens: compare needs at least two regimen IDs"),
        (("UK-IM-NN", "NOPE"), "b12: Unknown regimen 'NOPE'"),
        (("UK-IM-NN", "UK-CN-NN", "--start", "2026-13-01"), "b12: --start:"),
    ],
    ids=["one-id", "no-id", "unknown-id", "bad-start"],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_compare_with_bad_input_exits_2(cli: Any, args: tuple[str, ...], expected: str, as_json: bool) -> None:
    result = cli("compare", *args, *(["--json"] if as_json else []))

    assert result.code == 2
    assert result.error_line().startswith(expected)


# --- guidelines -----------------------------------------------------------------------------------------


def test_guidelines_lists_rules_regimens_and_threshold_sets_with_sources(cli: Any) -> None:
    result = cli("guidelines")

    assert result.code == 0, result.err
    assert "b12 rules" in result.out
    for rule in ("UK-IM-NN", "SAFE-COBALT", "nice-ng239"):
        assert rule in result.out


def test_guidelines_as_json_gives_every_entry_with_its_sources(cli: Any) -> None:
    entries = cli("guidelines", "--json").json()

    by_id = {e["id"]: e for e in entries}
    assert {"UK-IM-NN", "US-FDA-CN", "nice-ng239"} <= set(by_id)
    assert by_id["UK-IM-NN"]["kind"] == "regimen"
    assert "S18" in by_id["UK-IM-NN"]["sources"]
    assert all(set(e) == {"id", "kind", "title", "guidelines", "sources", "b12_own"} for e in entries)


def test_guidelines_show_lists_the_sources_of_a_rule_with_their_titles(cli: Any) -> None:
    from b12.domain.guidelines import sources

    result = cli("guidelines", "show", "UK-IM-NN")

    assert result.code == 0, result.err
    assert result.out.splitlines()[0].startswith("UK-IM-NN — ")
    for source_id in ("S18", "S19"):
        source = sources()[source_id]
        assert f"{source_id} {source.title} {source.url}" in result.out


def test_guidelines_show_is_case_insensitive_and_has_a_json_form(cli: Any) -> None:
    data = cli("guidelines", "show", "uk-im-nn", "--json").json()

    assert data["id"] == "UK-IM-NN"
    assert [s["id"] for s in data["sources"]] == ["S18", "S19"]
    assert all(s["title"] and s["url"].startswith("https://") for s in data["sources"])


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_guidelines_show_of_an_unknown_id_exits_2(cli: Any, as_json: bool) -> None:
    result = cli("guidelines", "show", "NOPE", *(["--json"] if as_json else []))

    assert result.code == 2
    assert result.error_line() == "b12: ID: 'NOPE' is not a rule b12 knows; 'b12 guidelines' lists them"


def test_guidelines_show_without_an_id_exits_2_with_one_line(cli: Any) -> None:
    result = cli("guidelines", "show")

    assert result.code == 2
    assert "b12 guidelines show --help" in result.error_line()


# --- fhir -----------------------------------------------------------------------------------------------


def test_fhir_import_counts_the_skipped_doses_and_reactions_it_imported(cli: Any, tmp_path: Path) -> None:
    from test_fhir import COURSE, PATIENT, TODAY, fake_store, sql_store
    from test_fhir_tracking import a_course_with_skips_and_reactions

    from b12.adapters import fhir

    url = "sqlite:///" + str(tmp_path / "cli.sqlite3")
    with sql_store(url):
        pass
    course = fhir.export_course(a_course_with_skips_and_reactions(fake_store()), COURSE, today=TODAY)
    file = tmp_path / "course.json"
    file.write_text(fhir.dumps(course), encoding="utf-8")

    first = cli("fhir", "import", str(file), "--database", url)
    again = cli("fhir", "import", str(file), "--database", url)

    assert first.code == 0, first.err
    assert first.out.splitlines()[0] == (
        f"Imported 1 lab result, 2 doses, 2 skipped doses and 2 reactions for patient {PATIENT} from {file}."
    )
    assert again.out.splitlines()[0] == (
        f"Imported 0 lab results and 0 doses for patient {PATIENT} from {file} (7 already stored)."
    )


def test_fhir_import_help_names_skipped_doses_and_reactions(cli: Any) -> None:
    result = cli("fhir", "import", "--help")

    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "doses given or skipped" in text
    assert "reactions (AdverseEvents)" in text


# --- unexpected errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "args"),
    [
        ("plan_case", ("plan", "--input", str(ROOT / "examples" / "pernicious-anaemia.json"))),
        ("interpret_case", ("interpret", "--sex", "female", "--lab", "b12_total=150 ng/L")),
        ("compare_regimens", ("compare", "UK-IM-NN", "UK-CN-NN")),
        ("rule_catalogue", ("guidelines", "--json")),
    ],
    ids=["plan", "interpret", "compare", "guidelines"],
)
def test_an_unexpected_error_inside_a_command_exits_1_with_one_line_and_no_traceback(
    cli: Any, monkeypatch: pytest.MonkeyPatch, service: str, args: tuple[str, ...]
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(b12.services, service, broken)

    result = cli(*args)

    assert result.code == 1
    assert result.error_line() == "b12: internal error (RuntimeError: disk on fire); please report it"


# --- the installed script -------------------------------------------------------------------------------


def test_the_script_converts_1000_mcg_to_1_mg() -> None:
    result = run_script("convert", "1000", "mcg", "mg")

    assert (result.code, result.out, result.err) == (0, "1000 mcg = 1 mg\n", "")


def test_the_script_refuses_iu_with_exit_2_and_one_line() -> None:
    result = run_script("convert", "1000", "IU", "mg")

    assert result.code == 2
    assert "no IU conversion for B12" in result.error_line()


def test_the_script_refuses_a_malformed_case_with_exit_2_naming_the_field(tmp_path: Path) -> None:
    bad = {**MINIMAL, "labs": [{"test": "b12", "value": 150, "unit": "ng/L"}]}

    result = run_script("plan", "--input", write_case(tmp_path, bad), "--json")

    assert result.code == 2
    assert result.error_line().startswith("b12: labs[0].test:")


def test_the_script_reads_a_case_from_stdin_and_prints_the_plan_as_json() -> None:
    text = example("pernicious-anaemia").read_text(encoding="utf-8")

    result = run_script("plan", "--input", "-", "--json", stdin=text)

    assert result.json()["recommendation"]["regimen"] == "UK-IM-NN"


def test_the_script_gives_one_line_for_a_usage_error() -> None:
    result = run_script("plan", "--bogus")

    assert result.code == 2
    assert "--bogus" in result.error_line()
