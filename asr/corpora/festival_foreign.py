"""English read by festival's Italian, Finnish, Czech and Hindi diphone voices, for `asr prepare
synthetic --engines ...,foreign`: foreign-accented English.

Debian packages festival voices of other languages (festvox-italp16k, -itapc16k, -suopuhe-lj,
-suopuhe-mv, -czech-*, -hi-nsk). Given English text they would spell it by their own language's
rules; given phones they say them. So festival's English front end (the kal voice: lexicon, letter
to sound, durations, intonation) writes each utterance's phones, durations and pitch targets, each
English phone becomes the nearest phone or two of the voice's language (FOREIGN_PHONES), and the
voice speaks that with English timing and melody: the substitutions a speaker of that language makes
(th as t or d in Italian and Czech, w as v in Czech and Hindi, t and d retroflex in Hindi, no h in
Italian, long vowels for tense ones in Finnish and Czech). Three of the voices are women's, one a
child's: the training voices of flite and festival are all men's.

Nothing here is a held-out voice (synthetic.HELD_OUT_VOICES): those are two espeak accents and
flite's `slt`, whose speaker no voice here is. Measured (recipes/default/HISTORY.md, stages 57-58):
the default model went from 91% to 70% WER on their dev in an epoch, and two epochs with them
gained 1.6 points on the held-out seed-5 voices greedy, most on `en-029`, which stops its th as the
Italian and Czech voices do.
"""

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

# voice -> (its phone map, pitch over kal's: about 200 Hz for a woman, 250 for the child)
VOICES = {"lp_diphone": ("italian", 1.9), "pc_diphone": ("italian", 1.0),
          "suo_fi_lj_diphone": ("finnish", 1.9), "hy_fi_mv_diphone": ("finnish", 1.0),
          "czech_dita": ("czech", 1.9), "czech_krb": ("czech", 2.3), "czech_machac": ("czech", 1.0),
          "czech_ph": ("czech", 1.0), "hindi_NSK_diphone": ("hindi", 1.0)}
DEBIAN_PACKAGES = ("festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv festvox-czech-dita "
                   "festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-hi-nsk")


# festival's English (radio) phones -> each language's; these, which every one of them has, map to
# themselves unless listed.
_SHARED = "b d f g k l m n p r s t v pau"


def _table(pairs: str) -> dict[str, tuple[str, ...]]:
    """"aa:a aw:a,w hh:" -> {"aa": ("a",), "aw": ("a", "w"), "hh": (), "b": ("b",), ...}"""
    listed = {eng: tuple(filter(None, said.split(","))) for eng, said in (p.split(":", 1) for p in pairs.split())}
    return {phone: (phone,) for phone in _SHARED.split()} | listed


FOREIGN_PHONES = {
    "italian": _table(
        "aa:a ae:E ah:a ao:O aw:a,w ax:e axr:e,r ay:a,j eh:E el:e,l em:e,m en:e,n er:e,r ey:e,j ih:i iy:i"
        " ow:o,w oy:O,j uh:u uw:u ch:tS dh:d dx:d hh: hv: jh:dZ nx:n ng:ng sh:S th:t w:w y:j z:z zh:Z"
        " pau:# h#:# brth:#"),
    "finnish": _table(
        "aa:a: ae:@ ah:a ao:o: aw:a,u ax:& axr:&,r ay:a,i eh:e el:&,l em:&,m en:&,n er:e,r ey:e,i ih:i iy:i:"
        " ow:o,u oy:o,i uh:u uw:u: ch:t,S dh:d dx:d hh:h hv:h jh:d,S nx:n ng:N sh:S th:T w:w y:j z:s zh:S"
        " pau:# h#:# brth:#"),
    "czech": _table(
        "aa:a: ae:e ah:a ao:o: aw:a,u ax:e axr:e,r ay:a,j eh:e el:e,l em:e,m en:e,n er:e,r ey:e,j ih:i iy:i:"
        " ow:o,u oy:o,j uh:u uw:u: ch:c~ dh:d dx:d hh:h hv:h jh:dz~ nx:n ng:n sh:s~ th:t w:v y:j z:z zh:z~"
        " pau:# h#:# brth:#"),
    "hindi": _table(
        "aa:aa ae:eh ah:a ao:aw aw:aa,uh ax:a axr:a,r ay:aa,ih eh:eh el:a,l em:a,m en:a,n er:a,r ey:ee ih:ih"
        " iy:iy ow:oo oy:aw,ih uh:uh uw:uw ch:ch d:D dh:dh dx:D hh:h hv:h jh:j nx:n ng:n,g sh:sh t:T th:th"
        " w:v y:y z:s zh:zh h#:pau brth:pau"),
}
ITALIAN_STRESSED = set("ieEaoOu")  # the Italian voices have a stressed form of each vowel, "a1"

# kal's front end: each segment "S name end stress", each pitch target "T pos f0", in seconds and Hz
_FRONT_END = """(begin (voice_kal_diphone) (Parameter.set 'Duration_Stretch {stretch:.3f})
 (set! utt (utt.synth (Utterance Text "{text}")))
 (mapcar (lambda (s) (format t "S %s %f %s\\n" (item.name s) (item.feat s 'end)
   (item.feat s "R:SylStructure.parent.stress"))) (utt.relation.items utt 'Segment))
 (mapcar (lambda (x) (format t "T %f %f\\n" (item.feat x 'pos) (item.feat x 'f0)))
   (utt.relation.leafs utt 'Target)))"""


def english_segments(text: str, rate: float) -> tuple[list[tuple[str, float, bool]], list[tuple[float, float]]]:
    """festival's English for `text` at `rate`: [(phone, end, stressed)], [(time, f0)]."""
    script = _FRONT_END.format(stretch=1 / rate, text=text.replace("\\", "").replace('"', ""))
    out = subprocess.run(["festival", "-b", script], capture_output=True, text=True, check=True, timeout=120).stdout
    segments, targets = [], []
    for line in out.splitlines():
        kind, *fields = line.split()
        if kind == "S":
            segments.append((fields[0], float(fields[1]), fields[2] == "1"))
        elif kind == "T" and float(fields[1]) > 0:
            targets.append((float(fields[0]), float(fields[1])))
    return segments, targets


def foreign_segments(segments, targets, language: str, pitch: float) -> list[tuple[str, float, list]]:
    """The English segments in `language`'s phones: [(phone, duration, [(offset, f0)])]. A phone that
    becomes two splits its time 60/40; one the language lacks (Italian h) is left out."""
    phones = FOREIGN_PHONES[language]
    said, start = [], 0.0
    for name, end, stressed in segments:
        parts = phones.get(name)
        if parts is None:
            raise RuntimeError(f"festival's English phone {name!r} has no {language} phone")
        shares = (1.0,) if len(parts) == 1 else (0.6, 0.4)
        part_start = start
        for part, share in zip(parts, shares):
            part_end = part_start + share * (end - start)
            if language == "italian" and stressed and part in ITALIAN_STRESSED and part == parts[0]:
                part += "1"
            heard = [(round(t - part_start, 4), round(f0 * pitch, 1))
                     for t, f0 in targets if part_start < t <= part_end]
            said.append((part, round(part_end - part_start, 4), heard))
            part_start = part_end
        start = end
    return said


def speak(text: str, voice: str, rate: float, pitch: float) -> tuple[np.ndarray, int]:
    """`text` by the foreign `voice` (a key of VOICES) at `rate` and `pitch` (1.0: kal's own)."""
    language, voice_pitch = VOICES[voice]
    segments, targets = english_segments(text, rate)
    said = foreign_segments(segments, targets, language, pitch * voice_pitch)
    entries = " ".join(f"({p} {d} {' '.join(f'({t} {f})' for t, f in heard)})" for p, d, heard in said)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        script = f'(begin (voice_{voice}) (utt.save.wave (utt.synth (Utterance Segments ({entries}))) "{wav}"))'
        subprocess.run(["festival", "-b", script], capture_output=True, check=True, timeout=120)
        return soundfile.read(str(wav), dtype="float32")
