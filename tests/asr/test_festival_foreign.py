import subprocess

import pytest

from asr.corpora import festival_foreign
from asr.corpora.festival_foreign import FOREIGN_PHONES, VOICES, foreign_segments
from asr.corpora.synthetic import check_engines


def test_foreign_segments_map_phones_split_time_and_carry_pitch():
    english = [("pau", 0.2, False), ("th", 0.3, True), ("ay", 0.5, True), ("hh", 0.55, False), ("iy", 0.75, False)]
    targets = [(0.25, 100.0), (0.45, 110.0), (0.7, 90.0)]
    # by hand: th -> t; ay -> a (stressed: a1) for 60% of its 0.2 s, then j; h is silent in Italian
    assert foreign_segments(english, targets, "italian", pitch=2.0) == [
        ("#", 0.2, []), ("t", 0.1, [(0.05, 200.0)]), ("a1", 0.12, []), ("j", 0.08, [(0.03, 220.0)]),
        ("i", 0.2, [(0.15, 180.0)])]
    assert [p for p, _, _ in foreign_segments(english, targets, "hindi", pitch=1.0)] == \
        ["pau", "th", "aa", "ih", "h", "iy"]
    with pytest.raises(RuntimeError, match="'xx' has no czech phone"):
        foreign_segments([("xx", 0.1, False)], [], "czech", pitch=1.0)


def festival_phones(voice: str) -> set[str]:
    script = f"(begin (voice_{voice}) (print (mapcar car (cadr (assoc 'phones (PhoneSet.description))))))"
    out = subprocess.run(["festival", "-b", script], capture_output=True, text=True, check=True).stdout
    return set(out.strip().strip("()").split())


def voices_installed() -> bool:
    try:
        check_engines(("foreign",))
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not voices_installed(), reason=f"needs festival's voices (apt install festival "
                                                    f"festvox-kallpc16k {festival_foreign.DEBIAN_PACKAGES})")
def test_every_english_phone_becomes_phones_the_voice_has():
    english = festival_phones("kal_diphone")
    for voice, (language, _) in VOICES.items():
        table = FOREIGN_PHONES[language]
        assert set(table) == english, f"{language}: every phone kal's front end can write, and no other"
        said = {p for parts in table.values() for p in parts}
        assert said <= festival_phones(voice), f"{voice} lacks {sorted(said - festival_phones(voice))}"
