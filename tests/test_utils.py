"""rnagen.utils: the display width a printed table pads by."""
from rnagen.utils import display_width, pad_to


def test_display_width_counts_wide_characters_twice_and_combining_marks_not_at_all():
    assert display_width("Basal") == 5
    assert display_width("乳腺癌") == 6                  # CJK ideographs: East Asian Width W
    assert display_width("ＡＢ") == 4                    # full-width forms: F
    assert display_width("Cafe\u0301") == 4             # e + combining acute accent
    assert pad_to("乳腺癌", 8) == "乳腺癌  " and pad_to("Basal", 8) == "Basal   " and pad_to("toolong", 3) == "toolong"
