"""The pipeline's own logic, fast: a scripted detector (known boxes and landmarks) instead of
Haar/O-Net, the real tracker, alignment, feature buffers, ONNX Runtime step and event logic.

Events are forced with on/off thresholds of 0 (every frame is "above threshold"), so the
segment logic runs whatever the untrained network outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_faces import ScriptedDetector, face, textured_image

from me_perception.perception.events import EventConfig, EventKind, Phase
from me_perception.perception.face_tracking import TrackerConfig
from me_perception.perception.feature_buffer import ResetReason
from me_perception.perception.front_end import FrontEndConfig
from me_perception.perception.pipeline import FrameResult, Pipeline, PipelineConfig
from me_perception.perception.stream_clock import StampKind

MS = 1_000_000
T0 = 1_700_000_000 * 1000 * MS
DT = 33_333_333
ALWAYS_ON = EventConfig(on_threshold=1e-9, off_threshold=1e-9)  # 0 = the spotter's own


def make_pipeline(
    model_dir: Path, faces: list | None = None, max_faces: int = 8, events: EventConfig = ALWAYS_ON
) -> tuple[Pipeline, ScriptedDetector]:
    script = faces if faces is not None else [face(100, 60, 100)]
    detector = ScriptedDetector(lambda k: script)
    front_end = FrontEndConfig(max_faces=max_faces, tracker=TrackerConfig(confirm_hits=1))
    cfg = PipelineConfig(
        model_path=str(model_dir), backend="onnxruntime", num_threads=1, front_end=front_end
    )
    thresholds = (events.on_threshold, events.off_threshold)
    cfg = PipelineConfig(**{**cfg.__dict__, "events": events, "thresholds": thresholds})
    return Pipeline(cfg, detector=detector), detector


def run(pipe: Pipeline, stamps: list[int]) -> list[FrameResult]:
    image = textured_image()
    return [pipe.process(image, s, "cam") for s in stamps]


def phases(results: list[FrameResult]) -> list[tuple[int, Phase, EventKind, bool]]:
    return [
        (i, r.event.phase, r.event.kind, r.event.truncated)
        for i, res in enumerate(results)
        for r in res.events
    ]


def test_faces_boxes_and_outputs(model_dir: Path) -> None:
    pipe, _ = make_pipeline(model_dir, [face(10, 20, 80), face(200, 150, 90)])
    (res,) = run(pipe, [T0])
    assert (res.stamp_ns, res.frame_id, res.width, res.height) == (T0, "cam", 320, 240)
    assert res.stamp_kind is StampKind.FIRST and res.notes == []
    assert [f.box for f in res.faces] == sorted([(10, 20, 80, 80), (200, 150, 90, 90)])
    assert [f.face_id for f in res.faces] == sorted(f.face_id for f in res.faces)
    for f in res.faces:
        assert f.valid and len(f.class_probabilities) == len(res.class_names) == 5
        assert sum(f.class_probabilities) == pytest.approx(1.0, abs=1e-4)
        assert 0.0 <= f.spotting_score <= 1.0 and 0.0 <= f.intensity <= 1.0
    assert {"detect_track", "align", "model", "total"} <= set(res.timings_ms)
    assert pipe.tracked_faces == 2


def test_more_faces_than_max_faces_the_largest_are_processed_with_a_note(model_dir: Path) -> None:
    faces = [face(10, 10, 40), face(100, 10, 70), face(200, 100, 90)]
    pipe, _ = make_pipeline(model_dir, faces, max_faces=2)
    results = run(pipe, [T0 + i * DT for i in range(5)])
    for res in results:
        assert sorted(f.box[2] for f in res.faces) == [70, 90]
        assert any("3 faces tracked, processing 2 (max_faces)" in n for n in res.notes)
    ids = {tuple(f.face_id for f in r.faces) for r in results}
    assert len(ids) == 1  # the same two faces, frame after frame


def test_events_come_from_the_stamps(model_dir: Path) -> None:
    pipe, _ = make_pipeline(model_dir)
    results = run(pipe, [T0 + i * DT for i in range(20)])
    # ONSET once the segment lasted 40 ms (frame 2), re-announced as macro beyond 0.5 s
    assert phases(results) == [
        (2, Phase.ONSET, EventKind.MICRO, False),
        (16, Phase.ONSET, EventKind.MACRO, False),
    ]
    onset = results[2].events[0].event
    assert onset.onset_ns == T0 and results[1].faces[0].phase is Phase.NONE
    assert results[3].faces[0].phase is Phase.ONSET and results[3].faces[0].onset_ns == T0
    assert results[3].faces[0].kind == "micro" and results[17].faces[0].kind == "macro"
    assert results[16].events[0].event.onset_ns == T0  # the same expression, now macro
    # the stream ends: the open macro-expression ends at its last frame, truncated
    (*_, offset) = [r.event for r in pipe.finish()]
    assert (offset.phase, offset.kind, offset.truncated) == (Phase.OFFSET, EventKind.MACRO, True)
    assert offset.offset_ns == T0 + 19 * DT and pipe.tracked_faces == 0


def test_repeated_stamps_change_nothing(model_dir: Path) -> None:
    """A repeated stamp is not a new instant: same events as without the repeats, the
    previous faces reported again, a note."""
    stamps = [T0 + i * DT for i in range(12)]
    clean, _ = make_pipeline(model_dir)
    expected = run(clean, stamps)
    repeated = [s for s in stamps for _ in (0, 1) if s != stamps[0] or _ == 0]
    pipe, detector = make_pipeline(model_dir)
    got = run(pipe, repeated)
    assert len(got) == 2 * len(stamps) - 1 and detector.calls == len(stamps)
    fresh = [r for r in got if r.stamp_kind is not StampKind.DUPLICATE]
    dups = [r for r in got if r.stamp_kind is StampKind.DUPLICATE]
    assert len(fresh) == len(stamps) and len(dups) == len(stamps) - 1
    for a, b in zip(fresh, expected, strict=True):
        assert [(e.face_id, e.event) for e in a.events] == [(e.face_id, e.event) for e in b.events]
        assert [f.spotting_score for f in a.faces] == [f.spotting_score for f in b.faces]
    for i, res in enumerate(got[1:], start=1):
        if res.stamp_kind is StampKind.DUPLICATE:
            assert res.faces == got[i - 1].faces and res.events == []
            assert res.notes == ["stamp repeated: not a new instant, temporal state not advanced"]


def test_a_gap_restarts_the_buffers_and_ends_the_open_event(model_dir: Path) -> None:
    stamps = [T0 + i * DT for i in range(6)]
    stamps += [stamps[-1] + 5_000 * MS + i * DT for i in range(4)]  # a 5 s gap
    pipe, _ = make_pipeline(model_dir)
    results = run(pipe, stamps)
    gap = results[6]
    assert gap.stamp_kind is StampKind.GAP
    assert gap.notes == ["frame gap of 5000 ms: feature buffers restart, open events end"]
    # the open (confirmed, rising) segment ends at its last frame: its APEX, then a truncated OFFSET
    assert [r.event.phase for r in gap.events] == [Phase.APEX, Phase.OFFSET]
    closed = gap.events[-1]
    assert closed.event.truncated
    assert closed.event.offset_ns == stamps[5] and closed.box == gap.faces[0].box
    fid = gap.faces[0].face_id
    assert fid == results[5].faces[0].face_id  # the face is still tracked: same id
    assert pipe.spotter.bank.buffer(fid).last_reset is ResetReason.TIME_GAP
    assert pipe.spotter.bank.buffer(fid).frames_since_reset == 4  # rebuilt from the gap frame on
    assert phases(results[6:])[2:] == [(2, Phase.ONSET, EventKind.MICRO, False)]  # anew


def test_time_going_backwards_forgets_every_face(model_dir: Path) -> None:
    stamps = [T0 + i * DT for i in range(6)] + [T0 - 10 * DT, T0 - 9 * DT]  # a bag loop
    pipe, detector = make_pipeline(model_dir)
    results = run(pipe, stamps)
    back = results[6]
    assert back.stamp_kind is StampKind.BACKWARDS and detector.resets == 1
    assert back.notes == ["time went backwards by 500.0 ms: state reset"]
    assert [r.event.phase for r in back.events] == [Phase.APEX, Phase.OFFSET]
    closed = back.events[-1]
    assert closed.event.truncated and closed.event.offset_ns == stamps[5]
    assert closed.box == (0, 0, 0, 0) and closed.face_id == results[5].faces[0].face_id
    assert back.faces[0].face_id != closed.face_id  # the face seen again has a new id
    assert back.faces[0].phase is Phase.NONE and pipe.tracked_faces == 1


def test_a_lost_face_ends_its_event_and_frees_its_state(model_dir: Path) -> None:
    script = [face(100, 60, 100)]
    pipe, _ = make_pipeline(model_dir, script)
    results = run(pipe, [T0 + i * DT for i in range(4)])
    fid = results[-1].faces[0].face_id
    script.clear()  # the face leaves; the tracker drops it after max_misses + 1 misses
    later = run(pipe, [T0 + (4 + i) * DT for i in range(TrackerConfig().max_misses + 1)])
    closing = [r for res in later for r in res.events]
    assert [(r.face_id, r.event.phase, r.event.truncated) for r in closing] == [
        (fid, Phase.APEX, False),
        (fid, Phase.OFFSET, True),
    ]
    assert closing[-1].box == (0, 0, 0, 0)
    assert later[-1].faces == [] and pipe.tracked_faces == 0 and fid not in pipe.spotter.bank


def test_frame_rate_is_measured_and_the_buffers_follow(model_dir: Path) -> None:
    pipe, _ = make_pipeline(model_dir)
    results = run(pipe, [T0 + i * 5 * MS for i in range(14)])  # a 200 fps camera
    noted = [i for i, r in enumerate(results) if any("fps measured" in n for n in r.notes)]
    assert noted == [10] and pipe.fps == pytest.approx(200.0)
    assert results[10].notes == [
        "frame rate 200.0 fps measured, faces analysed at 66.7 Hz: feature buffers restart "
        "(k and N changed in frames)"
    ]
    # the network's frame-counted buffers follow the rate faces are analysed at (every 3rd
    # frame), not the camera's: k = 0.1 s is 7 analysed frames, not 20 camera frames
    assert (
        pipe.spotter.bank.config.fps == pytest.approx(200.0 / 3)
        and pipe.spotter.bank.config.k_frames == 7
    )
    assert np.isfinite([f.spotting_score for r in results for f in r.faces]).all()


def test_a_200_fps_stream_is_analysed_every_third_frame_and_the_rest_repeat_it(
    model_dir: Path,
) -> None:
    pipe, _ = make_pipeline(model_dir)
    image = textured_image()
    stamps = [T0 + i * 5 * MS for i in range(40)]
    results = []
    for s in stamps:
        wanted = pipe.wants_image(s)
        results.append(pipe.process(image if wanted else None, s, "cam"))
        assert results[-1].analysed == wanted  # the prediction is what process does
    analysed = [i for i, r in enumerate(results) if r.analysed]
    assert analysed[-5:] == list(range(analysed[-5], 40, 3))  # 67 Hz once 200 fps is measured
    held = results[analysed[-1] - 1]
    assert not held.analysed and held.stamp_ns == stamps[analysed[-1] - 1]
    assert held.faces == results[analysed[-2]].faces and held.events == []
    # every frame analysed when asked to
    every = Pipeline(
        PipelineConfig(**{**pipe.config.__dict__, "analysis_rate_hz": 0.0}),
        detector=pipe.front_end.detector,
    )
    assert all(every.process(image, s, "cam").analysed for s in stamps[:6])
