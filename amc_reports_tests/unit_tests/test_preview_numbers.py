"""Numbers in the materialization previews (the KPI preview, a week's first rows) are rounded for
reading; the stored values are not."""

import math

from amc_reports.orchestration.metadata import preview_number, table_cell


def test_fractions_keep_four_significant_digits_and_amounts_two_decimals():
    assert table_cell(0.013450607031743432) == 0.01345  # a CTR, as issue 19 saw it
    assert table_cell(0.5) == 0.5
    assert table_cell(-0.000123456) == -0.0001235
    assert table_cell(12345.6789) == 12345.68  # spend
    assert table_cell(3.0) == 3.0 and table_cell(0.0) == 0.0


def test_what_is_not_a_finite_float_is_left_as_it_is():
    assert table_cell(float("nan")) is None
    assert preview_number(math.inf) == math.inf
    assert table_cell(3780325414720) == 3780325414720  # ids are ints: never rounded
    assert table_cell("a") == "a" and table_cell(None) is None and table_cell(True) is True
