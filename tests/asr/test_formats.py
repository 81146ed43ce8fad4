import json

from asr.formats import Transcript, Word, cues, render

WORDS = [Word("hello", 0.10, 0.52, 0.9), Word("world", 0.60, 1.00, 0.8), Word("again", 2.50, 2.90, 0.7)]


def transcript():
    return Transcript("a.wav", "hello world again", 3.2, list(WORDS), "m.pt", {"method": "greedy"})


def test_txt_and_jsonl():
    assert render(transcript(), "txt") == "a.wav\thello world again\n"
    row = json.loads(render(transcript(), "jsonl"))
    assert row["words"][1] == {"word": "world", "start": 0.6, "end": 1.0, "confidence": 0.8}
    assert row["model"] == "m.pt" and row["decoding"] == {"method": "greedy"} and row["duration"] == 3.2


def test_srt_and_vtt_break_at_pauses():
    srt = render(transcript(), "srt")
    assert srt == ("1\n00:00:00,100 --> 00:00:01,000\nhello world\n\n"
                   "2\n00:00:02,500 --> 00:00:02,900\nagain\n\n")
    vtt = render(transcript(), "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.100 --> 00:00:01.000\nhello world\n")


def test_cues_respect_length_and_duration():
    words = [Word("word", i * 0.5, i * 0.5 + 0.4, 1.0) for i in range(30)]
    groups = cues(words, max_chars=20, max_seconds=5.0)
    assert all(sum(len(w.word) + 1 for w in g) - 1 <= 20 for g in groups)
    assert [w for g in groups for w in g] == words
    long_hours = render(Transcript("x", "x", 4000, [Word("x", 3725.5, 3726.25, 1.0)]), "srt")
    assert "01:02:05,500 --> 01:02:06,250" in long_hours
