"""The one rule from a campaign's stored frame cells and unit populations to the frame it is weighted by."""

from __future__ import annotations

import pandas as pd

from survey.design import sampling_frame

UNITS_WITH_N = [("tra-xuan", 900), ("tra-bui", 0)]


def test_frame_cells_win_and_keep_a_stratum_column_only_when_some_cell_has_one():
    stratified, notes = sampling_frame(
        [("tra-xuan", "ho_tich", 300), ("tra-xuan", "", 600), ("tra-bui", "dat_dai", 40)], UNITS_WITH_N
    )
    assert notes == ()
    assert list(stratified.columns) == ["unit", "stratum", "population"]
    assert stratified["unit"].tolist() == ["tra-xuan", "tra-xuan", "tra-bui"]
    assert stratified["stratum"].tolist()[::2] == ["ho_tich", "dat_dai"]
    assert stratified["stratum"].isna().tolist() == [False, True, False]  # "" is no stratum
    assert stratified["population"].tolist() == [300, 600, 40]
    # Cells without strata (stored as ""): no all-empty stratum column, which scoring would refuse.
    unstratified, _ = sampling_frame([("tra-xuan", "", 900), ("tra-bui", None, 40)], [("tra-xuan", None)])
    assert list(unstratified.columns) == ["unit", "population"]
    assert unstratified["population"].tolist() == [900, 40]


def test_without_cells_n_per_unit_is_the_frame_when_every_unit_has_one():
    frame, notes = sampling_frame([], UNITS_WITH_N)
    pd.testing.assert_frame_equal(
        frame, pd.DataFrame({"unit": ["tra-xuan", "tra-bui"], "population": [900, 0]})
    )  # N = 0 is a known number, not a missing one
    assert notes == ()


def test_a_unit_without_n_leaves_the_frame_out_with_a_note_naming_it():
    frame, notes = sampling_frame([], [("tra-xuan", 900), ("tra-bui", None), ("son-tra", 0)])
    assert frame is None and len(notes) == 1
    assert "tra-bui" in notes[0] and "son-tra" not in notes[0] and "population N" in notes[0]
    assert sampling_frame([], [("tra-xuan", None), ("tra-bui", None)]) == (None, ())
    assert sampling_frame([], []) == (None, ())
