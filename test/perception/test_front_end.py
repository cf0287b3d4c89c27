"""The one front end: scheduled detection -> tracking -> face choice -> alignment -> NCHW."""

from __future__ import annotations

import cv2
import numpy as np
from fake_faces import ScriptedDetector, face, textured_image
from skimage import data

from me_perception.perception.face_tracking import TrackerConfig
from me_perception.perception.front_end import FrontEnd, FrontEndConfig, clip_box
from me_perception.perception.image_decoding import decode_raw_image

ONE_HIT = TrackerConfig(confirm_hits=1)


def test_real_photograph_appears_moves_and_vanishes() -> None:
    """Haar + O-Net + tracker + alignment on a sequence: one id, crops in the network layout."""
    photo = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (280, 280))
    fe = FrontEnd(
        FrontEndConfig(detect_full_every=6, detect_slices=3, tracker=TrackerConfig(seed=42))
    )
    seen, lost = [], []
    for k in range(40):
        frame = np.full((480, 640, 3), 60, np.uint8)
        if 5 <= k < 30:  # the face is there for 25 frames, drifting right by 2 px/frame
            x = 150 + 2 * (k - 5)
            frame[100:380, x : x + 280] = photo
        out = fe.process(decode_raw_image("bgr8", 640, 480, 640 * 3, 0, frame.tobytes()))
        assert out.crops.shape == (len(out.faces), 1, 64, 64) and out.crops.dtype == np.float32
        assert (out.width, out.height) == (640, 480)
        seen += out.face_ids
        lost += out.lost
    assert len(set(seen)) == 1 and lost == [seen[0]], (set(seen), lost)
    assert 20 <= len(seen) <= 25 + 5  # from confirmation until missed 5 times after it left


def test_faces_beyond_max_faces_are_the_smaller_ones_and_slots_are_kept() -> None:
    small, medium, large = face(10, 10, 40), face(100, 10, 60), face(200, 10, 80)
    huge = face(120, 120, 110)
    script = {0: [small, medium, large], 1: [small, medium, large]}
    script[2] = [small, medium, large, huge]  # a larger face arrives: processed faces stay
    det = ScriptedDetector(lambda k: script.get(k, [small, large, huge]))  # medium leaves at 3
    fe = FrontEnd(FrontEndConfig(max_faces=2, tracker=ONE_HIT), detector=det)
    image = textured_image()
    first = fe.process(image)
    by_size = {round(t.box[2]): t.id for t in first.faces}
    assert sorted(by_size) == [60, 80] and first.tracked == 3  # the two largest
    assert first.face_ids == sorted(first.face_ids)  # output order is by id
    fe.process(image)
    third = fe.process(image)
    assert set(third.face_ids) == set(by_size.values()) and third.tracked == 4
    for _ in range(10):  # medium is missed until the tracker drops it; huge takes its slot
        out = fe.process(image)
    assert by_size[60] in out.lost or by_size[60] not in out.face_ids
    sizes = sorted(round(t.box[2]) for t in out.faces)
    assert sizes == [80, 110], sizes


def test_score_weighs_in_the_choice() -> None:
    doubtful, sure = face(10, 10, 70, score=0.3), face(150, 10, 60, score=0.99)
    fe = FrontEnd(
        FrontEndConfig(max_faces=1, tracker=ONE_HIT),
        detector=ScriptedDetector(lambda k: [doubtful, sure]),
    )
    (chosen,) = fe.process(textured_image()).faces
    assert round(chosen.box[2]) == 60  # 60 x 60 x 0.99 > 70 x 70 x 0.3


def test_colour_crops_and_clipped_boxes() -> None:
    det = ScriptedDetector(lambda k: [face(-10, 200, 60)])  # partly outside a 320x240 image
    fe = FrontEnd(FrontEndConfig(tracker=ONE_HIT), crop_size=32, gray=False, detector=det)
    out = fe.process(textured_image())
    assert out.crops.shape == (1, 3, 32, 32)
    assert out.boxes == [clip_box((-10.0, 200.0, 60.0, 60.0), 320, 240)] == [(0, 200, 50, 40)]
    assert 0.0 <= out.crops.min() and out.crops.max() <= 1.0 and out.crops.std() > 0.01


def test_reset_forgets_tracks_and_restarts_the_schedule_with_fresh_ids() -> None:
    det = ScriptedDetector(lambda k: [face(50, 50, 80)])
    fe = FrontEnd(FrontEndConfig(tracker=ONE_HIT), detector=det)
    before = fe.process(textured_image()).face_ids
    assert fe.reset() == before and det.resets == 1
    after = fe.process(textured_image()).face_ids
    assert len(after) == 1 and after != before  # a face seen again gets a new id
